"""A release's probes (verify, the judge's baseline and samples, the fresh baseline) are not the team's
traffic: after two releases of a module nobody called, the host counted none of its runs for the team,
the telemetry store and so FinOps hold no fuel or invocations for it, while ``wasmops_probe_*``
shows what the releases ran; the AI check's telemetry validation still passes on the probe window
(found from outside, 2026-12-07: a tester's team spent over 99 % of its budget on probes)."""

from __future__ import annotations

from support.gitops_helpers import add_manifest
from support.host import REPO

# Written for this test: "ok" on any stdin, exit 3 on one starting with "x" (a case that fails on purpose).
WAT = """(module
  (import "wasi_snapshot_preview1" "fd_read" (func $r (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 200) "ok %s\\n")
  (func (export "_start") (local $i i32)
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 16))
    (drop (call $r (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (if (i32.eq (i32.load8_u (i32.const 64)) (i32.const 120)) (then (call $exit (i32.const 3))))
    (block $done (loop $spin (br_if $done (i32.ge_u (local.get $i) (i32.const 2000)))
      (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $spin)))
    (i32.store (i32.const 0) (i32.const 200)) (i32.store (i32.const 4) (i32.const %d))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""


def _module(d, tag: str):
    d.mkdir(parents=True, exist_ok=True)
    (d / "m.wat").write_text(WAT % (tag, len(f"ok {tag}\n")))
    (d / "module.yaml").write_text("name: unbilled\nlanguage: wat\nsources: [m.wat]\n"
                                   "limits: {fuel: 50000000, memory: 2Mi, timeout_ms: 1000}\n"
                                   "tests:\n  - {name: ok, stdin: 'a', expect_stdout_contains: 'ok'}\n"
                                   "  - {name: refused, stdin: 'x', expect_exit: 3}\n")
    return d


def _total(text: str, name: str) -> float:
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines()
               if ln.startswith(name + "{") and 'module="unbilled"' in ln)


def test_release_probes_are_not_billed_to_the_team(flow_env, tmp_path):
    from flows.release import release
    from wasmops.finops import attribute, load_prices
    from wasmops.gitops.decisions import list_decisions
    from wasmops.telemetry import Store

    ws, host, _ = flow_env
    add_manifest(ws, "dev/unbilled", "unbilled")
    src = _module(tmp_path / "unbilled", "v1")
    release(module_dir=str(src), target="dev/unbilled", auto_approve=True, ai_requests=20)
    v2 = release(module_dir=str(_module(src, "v2")), target="dev/unbilled", auto_approve=True, ai_requests=20)
    text = host.metrics()
    assert _total(text, "wasmops_invocations_total") == 0 and _total(text, "wasmops_fuel_consumed_total") == 0
    assert _total(text, "wasmops_errors_total") == 0
    # verify (2 cases) and 20 judged requests per side at least, twice, and the fresh baseline's old digest
    assert _total(text, "wasmops_probe_invocations_total") >= 2 * (2 + 20) + 20
    assert _total(text, "wasmops_expected_failures_total") > 0        # the 'x' probes, expected to exit 3
    # verify's run of the 'refused' case is one of them: no probe failed unexpectedly (it counted as one once)
    assert _total(text, "wasmops_probe_errors_total") == 0
    for d in list_decisions(ws.settings.gitops_dir, subject="dev/unbilled", kind="release-verdict"):
        assert "telemetry failed validation" not in d.explanation, d.explanation   # the probe window validated
    assert v2["ai_verdict"]["judge"] != "hold", v2["ai_verdict"]
    rows = Store.open(ws.settings).window(24 * 60, modules=["unbilled"])
    assert len(rows) and rows["invocations"].sum() == 0 and rows["fuel"].sum() == 0
    costs = attribute(rows, load_prices(REPO / "deployments" / "pricing.yaml"))     # what the budget gate sums
    assert costs["fuel_cost"].sum() == 0 and costs["invocation_cost"].sum() == 0
