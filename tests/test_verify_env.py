"""A case runs in a release's verify only when its env is exactly the deployment's (a variable only
the deployment sets is a difference too); otherwise it is *not run*, with the keys that differ.

Found by a tester: the manifest's env was {MODE: hash}, a case with no env expected "mode": "count";
it passed `wasmops test` and failed verify through the host (rolled back, digest quarantined),
because only the keys of the case's own env were compared."""

from __future__ import annotations

import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.cli_ws import imported, make_cli_workspace, without_importtime
from support.wasi_wat import env_echo_stdout, env_echo_wat, mode_wat
from wasmops.release.verify import verify_via_host
from wasmops.supply.source import ModuleSource, TestCase
from wasmops.supply.testrun import run_cases
from wasmops.wasm.sandbox import Sandbox
from wasmops.supply.testrun import limits_for

import pytest

DIGEST = "sha256:" + "ab" * 32
SB = Sandbox()
ECHO = wasmtime.wat2wasm(env_echo_wat())
ENVS = st.dictionaries(st.sampled_from(["MODE", "LEVEL", "A_B", "x"]), st.sampled_from(["hash", "count", "", "a=b"]),
                       max_size=4)


class _Host:
    """Runs a case as the host does: with the deployment's env, no args, argv[0] the module's name."""

    def __init__(self, src: ModuleSource, wasm: bytes, env: dict[str, str]):
        self.src, self.prepared, self.env = src, SB.load(wasm, DIGEST, where="host"), env

    def invoke(self, namespace, name, body, expect=None):     # expect: counted by a real host only
        r = SB.run(self.prepared, stdin=body, env=self.env, args=[], limits=limits_for(self.src.limits),
                   program_name=self.src.name)
        return r, DIGEST


def _src(*cases: TestCase) -> ModuleSource:
    return ModuleSource(name="echo", language="wat", sources=["m.wat"], tests=list(cases),
                        limits={"fuel": 10**7, "timeout_ms": 1000})


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_case_that_passes_wasmops_test_never_fails_verify_by_env(data):
    deployment = data.draw(ENVS, label="deployment env")
    case_env = data.draw(st.one_of(st.just(dict(deployment)), ENVS), label="case env")
    src = _src(TestCase(name="echo", env=case_env, expect_stdout=env_echo_stdout(case_env)))
    assert run_cases(src, ECHO, sandbox=SB).passed                       # `wasmops test`
    report = verify_via_host(_Host(src, ECHO, deployment), "dev", "echo", src, env=deployment, digest=DIGEST)
    [case] = report.cases
    differs = {k for k in set(case_env) | set(deployment) if case_env.get(k) != deployment.get(k)}
    if case_env == deployment:
        assert case.run and case.passed, case.reason
        assert report.passed and report.summary() == "1/1 passed"
    else:
        assert not case.run and case.result == "not run"
        assert case.reason == f"not run: env differs ({', '.join(sorted(differs))})"
        assert not report.passed and report.summary() == "0/0 passed, 1 not run"   # never counted as a pass


def test_the_testers_module_a_case_without_env_is_not_run_under_mode_hash():
    wasm = wasmtime.wat2wasm(mode_wat())
    counts = TestCase(name="counts", stdin="abc", expect_stdout='{"mode": "count"}')
    hashes = TestCase(name="hashes", stdin="abc", env={"MODE": "hash"}, expect_stdout='{"mode": "hash"}')
    src = _src(counts, hashes)
    assert run_cases(src, wasm, sandbox=SB).passed
    deployment = {"MODE": "hash"}
    report = verify_via_host(_Host(src, wasm, deployment), "dev", "modes", src, env=deployment, digest=DIGEST)
    assert [(c.name, c.result, c.reason) for c in report.cases] == [
        ("counts", "not run", "not run: env differs (MODE)"), ("hashes", "pass", "ok")]
    assert report.passed and report.summary() == "1/1 passed, 1 not run"


MODES_YAML = """name: modes
language: wat
sources: [mode.wat]
limits: {fuel: 1000000, memory: 1Mi, timeout_ms: 1000}
tests:
  - {name: counts, stdin: 'abc', expect_stdout: '{"mode": "count"}'}
"""


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return make_cli_workspace(tmp_path_factory)


def test_when_no_case_has_the_deployments_env_the_release_is_refused_before_anything_runs(ws):
    d = ws.cwd / "modes"
    d.mkdir()
    (d / "mode.wat").write_text(mode_wat())
    (d / "module.yaml").write_text(MODES_YAML)
    ws("test", "modes", check=0)
    ws("add", "modes", "--target", "dev/modes", "--team", "qa", "--project", "p", check=0)
    ws.edit_manifest("dev/modes", lambda doc: doc["spec"]["runtimeConfig"].update(env={"MODE": "hash"}))
    head = ws.head()
    p = ws("release", "modes", "--target", "dev/modes", "--auto-approve", check=1, python_flags=("-X", "importtime"))
    assert "prefect" not in imported(p.stderr) and "Traceback" not in p.stderr
    err = without_importtime(p.stderr)
    assert "none of the test cases can run through the host of dev/modes" in err, err
    assert "counts: env differs (MODE)" in err and 'env: {"MODE": "hash"}' in err, err
    assert ws.head() == head                                   # nothing committed, nothing deployed


def test_when_every_case_sets_one_env_the_refusal_names_the_manifest_field_and_value(ws):
    """Found from outside: a module that needs ``SEP=;`` had every case say so; `add` wrote
    ``env: {}`` and the refusal only said to change the cases. It now names the manifest file, the
    field and the env the cases share, as the other fix."""
    d = ws.cwd / "hashonly"
    d.mkdir()
    (d / "mode.wat").write_text(mode_wat())
    (d / "module.yaml").write_text("""name: hashonly
language: wat
sources: [mode.wat]
limits: {fuel: 1000000, memory: 1Mi, timeout_ms: 1000}
tests:
  - {name: hashes, stdin: 'abc', env: {MODE: hash, LEVEL: "2"}, expect_stdout: '{"mode": "hash"}'}
  - {name: hashes-too, stdin: '', env: {LEVEL: "2", MODE: hash}, expect_stdout: '{"mode": "hash"}'}
""")
    ws("add", "hashonly", "--target", "dev/hashonly", "--team", "qa", "--project", "p", check=0)
    p = ws("release", "hashonly", "--target", "dev/hashonly", "--auto-approve", check=1)
    assert "none of the test cases can run through the host of dev/hashonly" in p.stderr, p.stderr
    hint = p.stderr.split("hint:", 1)[1]
    assert "modules/dev/hashonly.yaml" in hint and "spec.runtimeConfig.env" in hint, hint
    assert '{"LEVEL": "2", "MODE": "hash"}' in hint, hint
