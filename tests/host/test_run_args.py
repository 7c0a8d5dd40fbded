"""Fixed arguments for a deployment (``spec.runtimeConfig.args``): argv = [name, *args] on every run.

Found onboarding WASI command-line tools from PyPI and npm: the host ran every request with argv =
[name] only, so a tool that needs a subcommand, ``-o -`` or ``--format json`` could not be served, and
a module.yaml case with ``args`` was reported by verify as "not run" (the host passes none)."""

from __future__ import annotations

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.fake_host import FakeHost
from support.host import published_host
from support.wasi_wat import argv_echo_stdout, argv_echo_wat

from wasmops.errors import UserError
from wasmops.gitops.desired import DesiredState
from wasmops.gitops.manifest import WasmModuleDeployment
from wasmops.gitops.reconcile import apply, detect_drift, plan
from wasmops.release.verify import verify_via_host
from wasmops.supply.source import ModuleSource, TestCase
from wasmops.supply.testrun import run_cases
from wasmops.wasm.sandbox import RunLimits, Sandbox

# Written for these tests (support/wasi_wat.py): writes its whole argv as WASI hands it, each ended by a NUL byte.
ARGV_ECHO = argv_echo_wat()

#: Any text an argument can hold: unicode (astral planes too), empty strings, spaces, quotes, '=', '-'.
ARG = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=12)
ARGS = st.lists(ARG, max_size=8)


def echoed(name: str, args: list[str]) -> bytes:
    return argv_echo_stdout([name, *args])


@pytest.fixture(scope="module")
def prepared():
    sb = Sandbox()
    return sb, sb.load(wasmtime.wat2wasm(ARGV_ECHO))


@settings(max_examples=60, deadline=None)
@given(args=ARGS)
def test_the_sandbox_hands_the_module_exactly_its_args(prepared, args):
    sb, prep = prepared
    r = sb.run(prep, args=args, program_name="echo", limits=RunLimits(fuel=10**6, memory=2**20))
    assert r.ok and r.stdout == echoed("echo", args)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with published_host(tmp_path_factory, "argv", ARGV_ECHO, "--workers", "1") as served:
        yield served


LIMITS = {"fuel": 1_000_000, "memory": "1Mi", "timeout_ms": 2000}
LABELS = {"wasmops.dev/module": "argv"}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=ARGS)
def test_a_real_host_runs_every_request_with_the_deployments_args(served, args):
    _hp, client, ref, digest = served
    client.deploy("cli", "argv", ref=ref, digest=digest, limits=LIMITS, labels=LABELS, args=args)
    (mod,) = client.modules()
    assert mod.get("args", []) == args and ("args" in mod) == bool(args)     # left out when empty
    for body in (b"", b"ignored"):
        r = client.run("cli", "argv", body)
        assert r.status_code == 200 and r.content == echoed("argv", args)


def test_the_args_survive_a_restart_and_bad_ones_are_refused_naming_the_field(served):
    hp, client, ref, digest = served
    client.deploy("cli", "argv", ref=ref, digest=digest, limits=LIMITS, labels=LABELS, args=["-o", "-", "ü"])
    hp.stop()
    client = hp.start("--workers", "1")
    assert client.run("cli", "argv", b"").content == echoed("argv", ["-o", "-", "ü"])
    for bad, said in ((["a\0b"], "NUL"), (["x"] * 65, "at most 64"), (["y" * 20_000], "at most 16384")):
        with pytest.raises(UserError, match="400") as e:
            client.deploy("cli", "argv", ref=ref, digest=digest, limits=LIMITS, labels=LABELS, args=bad)
        assert "args" in str(e.value) and said in str(e.value), str(e.value)
    assert client.run("cli", "argv", b"").content == echoed("argv", ["-o", "-", "ü"])     # still served as it was


def test_a_canary_runs_with_its_own_args_and_a_release_undo_keeps_them(served):
    from tasks.release import _deploy_body

    _hp, client, ref, digest = served
    ref2, digest2 = _hp.ws.publish_wat("argv2", ARGV_ECHO.replace("(module", "(module $v2", 1))
    client.deploy("cli", "argv", ref=ref, digest=digest, limits=LIMITS, labels=LABELS, args=["stable"])
    client.set_canary("cli", "argv", weight=50, ref=ref2, digest=digest2, limits=LIMITS, labels=LABELS,
                      args=["canary", "ü"])
    assert client.run("cli", "argv", b"", pin=digest).content == echoed("argv", ["stable"])
    assert client.run("cli", "argv", b"", pin=digest2).content == echoed("argv", ["canary", "ü"])
    client.promote_canary("cli", "argv")
    (mod,) = client.modules()
    assert (mod["digest"], mod["args"]) == (digest2, ["canary", "ü"])
    assert client.deploy("cli", "argv", **_deploy_body(mod))["changed"] is False    # the undo's body is the same


def _src(*cases: TestCase) -> ModuleSource:
    return ModuleSource(name="argv", language="wat", sources=["argv.wat"], tests=list(cases),
                        limits={"fuel": 10**6, "memory": "1Mi", "timeout_ms": 1000})


def test_verify_runs_a_case_whose_args_are_the_deployments_through_the_host(served):
    _hp, client, ref, digest = served
    args = ["--format", "json", ""]
    client.deploy("cli", "argv", ref=ref, digest=digest, limits=LIMITS, labels=LABELS, args=args)
    want = echoed("argv", args).decode()
    src = _src(TestCase(name="json", args=args, expect_stdout=want),
               TestCase(name="plain", expect_stdout="argv\0"),
               TestCase(name="help", args=["--help"], expect_stdout="argv\0--help\0"))
    assert run_cases(src, wasmtime.wat2wasm(ARGV_ECHO)).passed                 # `wasmops test`: cases as they are
    report = verify_via_host(client, "cli", "argv", src, env={}, args=args, digest=digest)
    assert [(c.name, c.result, c.reason) for c in report.cases] == [
        ("json", "pass", "ok"),
        ("plain", "not run", "not run: args differ (the host passes --format json '')"),
        ("help", "not run", "not run: args differ (the host passes --format json '')")]
    assert report.summary() == "1/1 passed, 2 not run"
    client.deploy("cli", "argv", ref=ref, digest=digest, limits=LIMITS, labels=LABELS)           # no args
    report = verify_via_host(client, "cli", "argv", src, env={}, digest=digest)
    assert [(c.name, c.result) for c in report.cases] == [("json", "not run"), ("plain", "pass"), ("help", "not run")]
    assert report.cases[0].reason == "not run: args given (the host passes none)"


def _manifest(**rc) -> WasmModuleDeployment:
    return WasmModuleDeployment.model_validate({
        "metadata": {"name": "argv", "namespace": "cli", "labels": {"team": "t", "project": "p"}},
        "spec": {"moduleRef": {"repository": "oci-layout:///x", "tag": "t", "digest": "sha256:" + "c" * 64},
                 "runtimeConfig": {"resources": {"cpu": "50m", "memory": "16Mi"}, **rc}}})


def _state(m: WasmModuleDeployment) -> DesiredState:
    return DesiredState("r", {m.key: m})


@settings(max_examples=30, deadline=None)
@given(before=ARGS, after=ARGS)
def test_plan_and_drift_follow_the_args_in_git(before, after):
    fake, reg = FakeHost(), "oci-layout:///x"
    old, new = _manifest(args=before), _manifest(args=after)
    assert apply(plan(_state(old), [], registry=reg), fake).ok
    assert fake.live["cli/argv"].get("args", []) == before
    assert plan(_state(old), fake.modules(), registry=reg).changes == [] and detect_drift(_state(old), fake.modules()) == []
    changes = plan(_state(new), fake.modules(), registry=reg).changes
    if before == after:
        assert changes == []
        return
    (a,) = changes
    assert a.kind == "update" and a.reason.startswith("args ")
    assert [(d.field, d.git, d.live) for d in detect_drift(_state(new), fake.modules())] == [
        ("args", after or None, before or None)]
    assert apply(plan(_state(new), fake.modules(), registry=reg), fake).ok
    assert plan(_state(new), fake.modules(), registry=reg).changes == []


def test_a_host_from_before_args_and_a_manifest_without_them_see_no_drift():
    fake = FakeHost()
    m = _manifest()
    fake.live["cli/argv"] = {"namespace": "cli", "name": "argv", "health": "Healthy", "digest": m.spec.module_ref.digest,
                             "trust_level": "sandboxed", "limits": m.host_limits(), "env": {},
                             "labels": m.metadata.labels, "replicas": 1}       # no args field at all
    assert detect_drift(_state(m), fake.modules()) == []


@pytest.mark.parametrize("args, said", [(["a\0b"], "NUL byte"), (["x"] * 65, "at most 64"),
                                        (["é" * 9000], "at most 16384"), ("-o -", "list")])
def test_bad_args_in_a_manifest_are_refused_naming_the_file_and_field(tmp_path, args, said):
    import yaml

    from wasmops.gitops.manifest import load_document

    doc = _manifest().model_dump(by_alias=True, mode="json")
    doc["spec"]["runtimeConfig"]["args"] = args
    path = tmp_path / "argv.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    with pytest.raises(Exception) as e:
        load_document(path, WasmModuleDeployment)
    assert str(path) in str(e.value) and "spec.runtimeConfig.args" in str(e.value) and said in str(e.value), str(e.value)


def test_module_yaml_args_are_what_add_writes_to_the_manifest_and_bad_ones_name_the_field(tmp_path):
    from wasmops.onboard import Target, deployment_for
    from wasmops.supply.source import load_module_source

    (tmp_path / "argv.wat").write_text(ARGV_ECHO)
    (tmp_path / "module.yaml").write_text(
        "name: argv\nlanguage: wat\nsources: [argv.wat]\nargs: ['-o', '-']\n"
        "tests:\n  - {name: out, args: ['-o', '-'], expect_stdout: \"argv\\0-o\\0-\\0\"}\n")
    src = load_module_source(tmp_path)
    assert run_cases(src, wasmtime.wat2wasm(ARGV_ECHO)).passed
    m = deployment_for(src, Target("cli", "argv"), team="t", project="p", cost_center=None, env="dev",
                       trust_level="sandboxed", source="argv")
    assert m.spec.runtime_config.args == ["-o", "-"]
    for bad, field in (('args: ["a\\0b"]', "args: "), ('tests: [{name: c, args: ["a\\0b"]}]', "tests.0.args: ")):
        (tmp_path / "module.yaml").write_text(f"name: argv\nlanguage: wat\nsources: [argv.wat]\n{bad}\n")
        with pytest.raises(Exception) as e:
            load_module_source(tmp_path)
        said = str(e.value)
        assert "module.yaml" in said and field in said and "argument 0 holds a NUL byte" in said, said


@pytest.mark.parametrize("flavor", ["runwasi", "spinkube"])
def test_render_says_the_args_are_not_carried_to_a_cluster(flavor):
    from support.host import REPO

    from wasmops.gitops.desired import load_desired_state
    from wasmops.gitops.render import render

    ds = load_desired_state(REPO / "deployments")
    m = ds.deployments["dev/greet-c"]
    spec = m.spec.model_copy(update={
        "module_ref": m.spec.module_ref.model_copy(update={"digest": "sha256:" + "a" * 64, "tag": "v1"}),
        "runtime_config": m.spec.runtime_config.model_copy(update={"args": ["-o", "-"]})})
    ds.deployments["dev/greet-c"] = m.model_copy(update={"spec": spec})
    out = render(ds, flavor=flavor, registry="oci-layout:///x")
    (w,) = [w for w in out.warnings if w.key == "dev/greet-c"]
    assert "spec.runtimeConfig.args (-o -) are not rendered" in w.reason


def test_wasmops_test_says_when_no_case_runs_with_module_yamls_args(tmp_path):
    import os
    import subprocess

    from support.host import WASMOPS

    (tmp_path / "argv.wat").write_text(ARGV_ECHO)
    yml = "name: argv\nlanguage: wat\nsources: [argv.wat]\nargs: ['-o', '-']\ntests:\n  - {name: c, %s expect_stdout: %s}\n"
    env = {**os.environ, "WASMOPS_HOME": str(tmp_path / "home")}
    for case_args, out, noted in (("", '"argv\\0"', True), ("args: ['-o', '-'],", '"argv\\0-o\\0-\\0"', False)):
        (tmp_path / "module.yaml").write_text(yml % (case_args, out))
        p = subprocess.run([WASMOPS, "test", str(tmp_path)], env=env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr             # the case runs as it is written, either way
        said = " ".join(p.stderr.split())
        assert ("no case runs with module.yaml's args (-o -)" in said) == noted, said
