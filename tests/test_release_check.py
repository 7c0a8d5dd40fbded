"""The release judge against the real host: per-request samples of one digest against the next.

20 rebuilds of the same module with no change in behaviour (each a different binary) are judged
against their predecessor: none may fail (a fail rolls a release back). A ×2 fuel-per-call
regression must fail, naming fuel_per_call.
"""

from __future__ import annotations

import wasmtime

from support.worker import worker_wat
from wasmops.release_check import default_policy, judge_samples, sample_requests

LIMITS = {"fuel": 50_000_000, "memory": "2Mi", "timeout_ms": 1000, "max_stdout": "64Ki"}
BODIES = [b"{}", b'{"x": 1}', b"[1,2,3]"]


def _deploy(host, workspace, tag: str, loops: int) -> str:
    ref, digest = workspace.publish_wasm("judged", wasmtime.wat2wasm(worker_wat(loops, tag)))
    host.deploy("dev", "judged", ref=ref, digest=digest, limits=LIMITS, labels={"team": "qa", "project": "judge"})
    return digest


def _sample(host, digest: str) -> dict:
    return sample_requests(host, "dev", "judged", BODIES, 40, expect_digest=digest)


def test_twenty_unchanged_rebuilds_are_never_rolled_back(host, workspace):
    policy = default_policy()
    prev = _sample(host, _deploy(host, workspace, "v0", 3000))
    verdicts = []
    for i in range(1, 21):
        cur = _sample(host, _deploy(host, workspace, f"v{i}", 3000))
        v = judge_samples(prev, cur, policy)
        verdicts.append(v.verdict)
        assert v.verdict != "fail", (i, v.explanation, v.to_rows())
        prev = cur
    print("verdicts of 20 no-change rebuilds:", {x: verdicts.count(x) for x in set(verdicts)})


def test_a_2x_fuel_regression_fails_on_fuel(host, workspace):
    before = _sample(host, _deploy(host, workspace, "base", 3000))
    after = _sample(host, _deploy(host, workspace, "slow", 6000))
    v = judge_samples(before, after, default_policy())
    assert v.verdict == "fail" and "fuel_per_call" in v.failed, v.to_rows()
    row = next(r for r in v.to_rows() if r["metric"] == "fuel_per_call")
    assert row["canary_median"] > 1.8 * row["baseline_median"] and row["n_canary"] == 40


def test_no_predecessor_is_hold_never_pass(host, workspace):
    cur = _sample(host, _deploy(host, workspace, "first", 3000))
    v = judge_samples(None, cur, default_policy())
    assert v.verdict == "hold" and "nothing to compare" in v.explanation
