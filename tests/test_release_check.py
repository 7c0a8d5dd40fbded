"""The release judge against the real host: per-request samples of one digest against the next.
(The first test needs no host: a scripted client checks that a lost request keeps its slot.)

20 rebuilds of the same module with no change in behaviour (each a different binary) are judged
against their predecessor: none may fail (a fail rolls a release back). A ×2 fuel-per-call
regression must fail, naming fuel_per_call.
"""

from __future__ import annotations

import math

import httpx
import wasmtime
from hypothesis import assume, given, settings, strategies as st

from support.wasi_wat import first_byte_wat
from support.worker import worker_wat
from wasmops.errors import TransientError
from wasmops.host.client import HostClient
from wasmops.ai.release_check import default_policy, judge_samples, sample_requests

LIMITS = {"fuel": 50_000_000, "memory": "2Mi", "timeout_ms": 1000, "max_stdout": "64Ki"}
BODIES = [b"{}", b'{"x": 1}', b"[1,2,3]"]


class _Scripted:
    """A host client whose fuel per request is ``fuel(body)``; requests listed in ``lost`` raise a
    transport error, those in ``other`` are answered by another digest."""

    def __init__(self, fuel, lost=(), other=()):
        self.fuel, self.lost, self.other, self.i = fuel, set(lost), set(other), 0

    def run(self, namespace, name, body):
        i, self.i = self.i, self.i + 1
        if i in self.lost:
            raise TransientError("connection reset", where=f"{namespace}/{name}")
        return httpx.Response(200, content=b"{}", headers={
            "x-wasmops-exit-code": "0", "x-wasmops-fuel": str(self.fuel(body)), "x-wasmops-memory": "65536",
            "x-wasmops-duration-ms": "2.5", "x-wasmops-digest": "sha256:other" if i in self.other else "sha256:d"})


def test_lost_requests_keep_their_slot_and_the_judge_pairs_by_request():
    fuel = {b"{}": 1000, b'{"x": 1}': 5000, b"[1,2,3]": 20000}   # fuel depends on the input
    base = sample_requests(_Scripted(fuel.get), "dev", "m", BODIES, 30, expect_digest="sha256:d", concurrency=1)
    can = sample_requests(_Scripted(lambda b: int(fuel[b] * 1.3), lost={4}, other={9}), "dev", "m", BODIES, 30,
                          expect_digest="sha256:d", concurrency=1)
    assert all(len(v) == 30 for v in (*base.values(), *can.values()))
    assert math.isnan(can["fuel_per_call"][4]) and math.isnan(can["error_rate"][9])
    v = judge_samples(base, can, default_policy())
    fuel_row = next(r for r in v.metrics if r.metric == "fuel_per_call")
    # Paired by request, a 30 % rise shows on every input although the inputs' own spread (x20)
    # hides it from an unpaired comparison.
    assert fuel_row.test == "signed-rank (paired)" and fuel_row.n_canary == 28 and fuel_row.dropped == 4
    assert v.verdict == "fail" and v.failed == ["fuel_per_call"] and v.judge_version == "5-sequential"
    unpaired = judge_samples(base, {k: x[:-1] for k, x in can.items()}, default_policy())
    assert "fuel_per_call" not in unpaired.failed
    assert judge_samples(base, base, default_policy()).verdict == "pass"


@settings(max_examples=80, deadline=None)
@given(st.floats(1, 1e7), st.floats(1.0, 4.0))
def test_fuel_fails_exactly_when_it_rose_by_a_fifth_of_max_baseline_and_floor(fuel, ratio):
    """Constant fuel per request (the same code path every time), 20 requests a side: the default
    policy fails a rise of at least min_effect (0.2) of max(baseline, FUEL_FLOOR) and passes the rest,
    never holds (a rise under the floor's +50 % is ruled out)."""
    from wasmops.ai.release_check import FUEL_FLOOR

    rise = fuel * (ratio - 1.0) / max(fuel, FUEL_FLOOR)
    assume(abs(rise - 0.2) > 0.01)
    v = judge_samples({"fuel_per_call": [fuel] * 20, "error_rate": [0.0] * 20},
                      {"fuel_per_call": [fuel * ratio] * 20, "error_rate": [0.0] * 20}, default_policy())
    assert v.verdict == ("fail" if rise >= 0.2 else "pass"), (rise, v.explanation)


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


def _checker_wat(extra: bool, tag: str) -> str:
    """Written here: a checksum over stdin's bytes (~20 instructions a byte), and with ``extra`` one
    more mixing step a byte: a tiny module whose new build costs ~25 % more fuel a call."""
    mix = "(local.set $h (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 3))))" if extra else ""
    return f"""(module ${tag}
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "ok")
  (func (export "_start") (local $n i32) (local $i i32) (local $h i32)
    (i32.store (i32.const 0) (i32.const 1024)) (i32.store (i32.const 4) (i32.const 512))
    (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (local.set $n (i32.load (i32.const 8)))
    (block $done (loop $each
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $h (i32.add (i32.mul (local.get $h) (i32.const 31)) (i32.load8_u (i32.add (i32.const 1024) (local.get $i)))))
      {mix}
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $each)))
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 2))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""


def test_a_tiny_module_may_add_a_few_instructions_a_call(host, workspace):
    """A module of a few hundred fuel a call whose new build adds one mixing step a byte is not rolled
    back: fuel is measured against at least FUEL_FLOOR (the seeded policy in Git says the same).
    Without the floor the same samples fail on fuel."""
    from pathlib import Path

    from wasmops.ai.release_check import FUEL_FLOOR, load_policy
    from wasmops.ai.release_judge import JudgePolicy, MetricPolicy

    def deploy(extra: bool, tag: str) -> str:
        ref, digest = workspace.publish_wasm("checker", wasmtime.wat2wasm(_checker_wat(extra, tag)))
        host.deploy("dev", "checker", ref=ref, digest=digest, limits=LIMITS)
        return digest

    bodies = [b"hello", b'{"id": 17, "ok": true}', b"x" * 40]
    before = sample_requests(host, "dev", "checker", bodies, 30, expect_digest=deploy(False, "a"))
    after = sample_requests(host, "dev", "checker", bodies, 30, expect_digest=deploy(True, "b"))
    b, c = (sum(s["fuel_per_call"]) / len(s["fuel_per_call"]) for s in (before, after))
    assert b < FUEL_FLOOR / 2 and 1.2 < c / b, (b, c)           # tiny, and > min_effect without the floor
    seeded = load_policy(Path(__file__).resolve().parents[1] / "deployments")
    for policy in (default_policy(), seeded):
        v = judge_samples(before, after, policy)
        assert v.verdict != "fail", v.to_rows()
    no_floor = JudgePolicy(metrics={**default_policy().metrics, "fuel_per_call": MetricPolicy(weight=2.0)})
    v = judge_samples(before, after, no_floor)
    assert v.verdict == "fail" and v.failed == ["fuel_per_call"], v.to_rows()


def test_no_predecessor_is_hold_never_pass(host, workspace):
    cur = _sample(host, _deploy(host, workspace, "first", 3000))
    v = judge_samples(None, cur, default_policy())
    assert v.verdict == "hold" and "nothing to compare" in v.explanation


def _failer_wat(ok_loops: int, fail_loops: int, tag: str) -> str:
    """Written here: spins ``ok_loops`` and exits 0, or, when stdin starts with 'x', spins ``fail_loops``
    and exits 3 (an input that fails on purpose)."""
    return first_byte_wat(tag, ord("x"), f"(call $spin (i32.const {fail_loops})) (call $exit (i32.const 3))",
                          f"(call $spin (i32.const {ok_loops}))")


def test_a_regression_on_a_path_that_fails_on_purpose_is_caught(host, workspace, tmp_path):
    from wasmops.release.steps import probe_bodies
    from wasmops.supply.source import ModuleSource, TestCase

    src = ModuleSource(name="failer", language="wat", sources=["m.wat"], root=tmp_path,
                       tests=[TestCase(name="ok", stdin="a"), TestCase(name="refused", stdin="x", expect_exit=3)])
    bodies = probe_bodies(src)
    assert bodies == [b"a", b"x"]

    def sample(ok_loops, fail_loops, tag):
        ref, digest = workspace.publish_wasm("failer", wasmtime.wat2wasm(_failer_wat(ok_loops, fail_loops, tag)))
        host.deploy("dev", "failer", ref=ref, digest=digest, limits=LIMITS, labels={"team": "qa", "project": "judge"})
        return sample_requests(prober, "dev", "failer", bodies, 40, expect_digest=digest)

    # the release's probes: X-Wasmops-Expect is honoured on probes only (X-Wasmops-Probe with the host token)
    prober = HostClient(host.url, host.http.headers["authorization"].split(" ", 1)[1], probe=True)

    base = sample(3000, 3000, "v1")
    # each 'x' run exits 3 as its case says: no error in the judge's samples either (release_check.missed)
    assert base["error_rate"] == [0.0] * 40 and not any(math.isnan(x) for x in base["fuel_per_call"])
    # the host counts the probes' failures as expected, not as errors (telemetry and monitors read errors),
    # and the probes themselves apart from the team's traffic (wasmops_probe_*)
    text = host.metrics()
    mine = [ln for ln in text.splitlines() if 'module="failer"' in ln and not ln.startswith("#")]
    assert not [ln for ln in mine if ln.startswith("wasmops_errors_total")], mine
    assert any(ln.startswith("wasmops_expected_failures_total") and ln.endswith(" 20.0") for ln in mine), mine
    assert any(ln.startswith("wasmops_probe_invocations_total") and ln.endswith(" 40.0") for ln in mine), mine
    assert not [ln for ln in mine if ln.startswith("wasmops_invocations_total{")], mine
    same = judge_samples(base, sample(3000, 3000, "v2"), default_policy())
    # failing alike on both sides is no change: nothing critical moves (latency, not critical, may read
    # "marginal" on a loaded machine: the two sides were sampled one after the other)
    critical = {r.metric: r.classification for r in same.metrics if default_policy().metric(r.metric).critical}
    assert same.verdict in ("pass", "marginal") and set(critical.values()) == {"Pass"}, same.explanation
    slow = judge_samples(base, sample(3000, 30000, "v3"), default_policy())
    assert slow.verdict == "fail" and "fuel_per_call" in slow.failed, slow.explanation


class _Noisy:
    """A host serving two digests whose fuel per request is drawn at random (the same law for both):
    every look is inconclusive without many samples."""

    def __init__(self):
        import numpy as np

        self.rng, self.calls = np.random.default_rng(8), 0

    def run(self, namespace, name, body, pin=None):
        self.calls += 1
        return httpx.Response(200, content=b"{}", headers={
            "x-wasmops-exit-code": "0", "x-wasmops-fuel": str(int(self.rng.lognormal(10, 1.5))),
            "x-wasmops-memory": "65536", "x-wasmops-duration-ms": "1", "x-wasmops-digest": pin})


def test_sequential_sampling_stops_at_its_time_budget():
    from wasmops.ai.release_check import judge_interleaved

    pol = default_policy().model_copy(update={"max_sampling_s": 1e-6})
    host = _Noisy()
    old, new, v = judge_interleaved(host, "dev", "m", BODIES, "sha256:a", "sha256:b", pol, requests=12)
    assert v.looks == 1 and len(new["fuel_per_call"]) == len(old["fuel_per_call"]) == host.calls // 2 < 30
    roomy = judge_interleaved(_Noisy(), "dev", "m", BODIES, "sha256:a", "sha256:b", default_policy(), requests=12)
    assert roomy[2].looks > 1 and len(roomy[1]["fuel_per_call"]) > 30      # the same draws take more looks


class _Clocked(_Noisy):
    """:class:`_Noisy` that notes when each request was made."""

    def __init__(self):
        super().__init__()
        self.at = []

    def run(self, namespace, name, body, pin=None):
        import time

        self.at.append(time.monotonic())
        return super().run(namespace, name, body, pin)


def test_a_canary_step_lasts_its_pause_after_the_sample_cap_and_looks_again_at_its_end():
    """Found from outside: ``pause: 20s`` ended after 2 s, once each side had 20 × requests samples:
    the operator's bake time was dropped. Lower bounds on time only: a loaded machine is slower."""
    import time

    from wasmops.ai.release_check import interleaved

    host, pause = _Clocked(), 1.5
    t0 = time.monotonic()
    old, new = interleaved(host, "dev", "m", BODIES, "sha256:a", "sha256:b", requests=2, pause_s=pause)
    assert time.monotonic() - t0 >= pause
    assert host.at[-1] >= t0 + pause                  # the last batch came at the end of the bake
    assert len(old["fuel_per_call"]) == len(new["fuel_per_call"]) >= 40


def test_the_judge_host_is_waited_for_until_it_serves_the_new_digest(host, workspace):
    """Fleet mode judges on the host the baseline was sampled on, which may switch later than the hosts
    the fleet's minimum needed (a CI run judged the old digest there and held: no telemetry of the new
    one). ``wait_serving`` answers whether the host serves a digest, within a bound."""
    old = _deploy(host, workspace, "serving-a", 100)
    ref, new = workspace.publish_wasm("judged", wasmtime.wat2wasm(worker_wat(200, "serving-b")))
    assert host.wait_serving("dev", "judged", old, timeout=5)
    assert not host.wait_serving("dev", "judged", new, timeout=0.3)
    host.deploy("dev", "judged", ref=ref, digest=new, limits=LIMITS)
    assert host.wait_serving("dev", "judged", new, timeout=5)
    assert not host.wait_serving("dev", "other", new, timeout=0)
