"""policies/release-judge.yaml is read over the release check's defaults: a workspace whose file
was seeded before the fuel and memory floors (or an operator's file that only sets a weight, or no
metrics at all) still gets the floors and the release check's metric list."""

from __future__ import annotations

import random

from wasmops.ai.release_check import FUEL_FLOOR, judge_samples, load_policy

# An older workspace's file, as an operator might have trimmed it: weights only, no floors.
WEIGHTS_ONLY = """\
apiVersion: wasmops.dev/v1alpha1
kind: ReleaseJudgePolicy
spec:
  max_looks: 4
  metrics:
    fuel_per_call: {weight: 3}
    peak_memory: {weight: 1}
"""
NO_METRICS = "spec:\n  min_samples: 10\n"
EXPLICIT_NO_FLOOR = "spec:\n  metrics:\n    fuel_per_call: {weight: 2, abs_floor: 1.0e-9}\n"


def _write(tmp_path, text: str):
    (tmp_path / "policies").mkdir(exist_ok=True)
    (tmp_path / "policies" / "release-judge.yaml").write_text(text)
    return load_policy(tmp_path)


def _samples(seed: int, extra: int, n: int = 90) -> dict[str, list[float]]:
    """A tiny module's per-request samples: three inputs of ~170-420 fuel, ``extra`` instructions more
    a call, one 64 KiB page, a jittery wall time and no errors."""
    rnd = random.Random(seed)
    base = [173.0, 281.0, 417.0]
    return {"fuel_per_call": [base[i % 3] + extra for i in range(n)],
            "peak_memory": [65536.0] * n,
            "latency_ms": [0.3 + rnd.random() * 0.2 for _ in range(n)],
            "error_rate": [0.0] * n}


def test_a_file_without_floors_still_measures_fuel_against_the_floor(tmp_path):
    before, after = _samples(1, 0), _samples(2, 130)       # +130 a call: +45 % of ~290, 13 % of the floor
    policy = _write(tmp_path, WEIGHTS_ONLY)
    fuel = policy.metric("fuel_per_call")
    assert (fuel.weight, fuel.abs_floor, policy.max_looks) == (3.0, FUEL_FLOOR, 4)
    assert not policy.metric("latency_ms").critical         # the release check's latency, not critical
    v = judge_samples(before, after, policy)
    assert v.verdict != "fail", v.to_rows()


def test_a_file_without_metrics_judges_the_release_checks_metrics(tmp_path):
    policy = _write(tmp_path, NO_METRICS)
    assert set(policy.metrics) == {"fuel_per_call", "peak_memory", "latency_ms", "error_rate"}
    assert policy.min_samples == 10 and policy.metric("fuel_per_call").abs_floor == FUEL_FLOOR


def test_an_explicit_floor_in_the_file_wins_and_a_real_regression_still_fails(tmp_path):
    before, after = _samples(3, 0), _samples(4, 130)
    v = judge_samples(before, after, _write(tmp_path, EXPLICIT_NO_FLOOR))
    assert v.verdict == "fail" and v.failed == ["fuel_per_call"], v.to_rows()
    big_before, big_after = _samples(5, 40_000), _samples(6, 2 * 40_000)   # a loop x2: fails with floors
    v = judge_samples(big_before, big_after, _write(tmp_path, WEIGHTS_ONLY))
    assert v.verdict == "fail" and "fuel_per_call" in v.failed, v.to_rows()


def test_a_shift_under_the_floor_passes_rather_than_holding_for_a_person():
    """A pass needs a +50 % regression ruled out; under the floors that regression is +50 % of the
    floor, not of a tiny baseline (found live: a WAT module of one 64 KiB page whose new build reserves
    three was held after 5 looks and 960 requests a side, "a +50% regression is not ruled out").
    Over the floor, or in a large module, a real shift still fails."""
    from wasmops.ai.release_check import MEMORY_FLOOR, default_policy

    def side(seed: int, pages: int, extra: int) -> dict[str, list[float]]:
        s = _samples(seed, extra)
        s["peak_memory"] = [65536.0 * pages] * len(s["peak_memory"])
        return s

    before = side(7, 1, 0)
    for after in (side(8, 3, 0), side(9, 1, 170)):     # +2 pages (+200 %), +170 instructions (~+60 %)
        v = judge_samples(before, after, default_policy())
        assert v.verdict == "pass", v.to_rows()
    assert 3 * 65536 < MEMORY_FLOOR / 2
    for after in (side(10, 40, 0), side(11, 1, 450)):  # +2.4 MiB, +450 instructions: regressions
        v = judge_samples(before, after, default_policy())
        assert v.verdict == "fail", v.to_rows()
