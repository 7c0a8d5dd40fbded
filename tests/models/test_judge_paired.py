"""The slot-paired release judge (judge(..., paired=True)): the signed-rank and CMH statistics
against scipy, real NAB series split like a concurrent canary, and bad input."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from scipy.stats import chi2_contingency, wilcoxon

from wasmops.ai.judge_stats import _cmh_z, _p_two_sided, _signed_rank_z
from wasmops.ai.release_judge import JUDGE_VERSION, JudgePolicy, judge

NAB = Path(__file__).resolve().parents[3] / "shared" / "data" / "nab"
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Small integers make ties and zero differences common; the floats make them rare.
VALUES = st.one_of(st.lists(st.integers(-4, 4).map(float), min_size=1, max_size=60),
                   st.lists(st.floats(-1e3, 1e3, allow_nan=False, width=32), min_size=1, max_size=60))


@FAST
@given(VALUES)
def test_signed_rank_agrees_with_scipy_normal_approximation(d):
    z, r, n = _signed_rank_z(d)
    x = np.asarray(d)
    assert n == int(np.count_nonzero(x)) and -1.0 <= r <= 1.0
    if n == 0:
        assert (z, r) == (0.0, 0.0)
        return
    ref = wilcoxon(x, zero_method="wilcox", correction=True, method="asymptotic")
    assert _p_two_sided(z) == pytest.approx(float(ref.pvalue), rel=1e-7, abs=1e-12)
    assert abs(z) == pytest.approx(abs(float(ref.zstatistic)), rel=1e-7, abs=1e-9)


@FAST
@given(VALUES)
def test_signed_rank_is_antisymmetric_under_swap_and_zero_on_identical(d):
    x = np.asarray(d)
    z, r, n = _signed_rank_z(x)
    z2, r2, n2 = _signed_rank_z(-x)           # baseline and canary swapped: c - b becomes b - c
    assert (z2, r2, n2) == pytest.approx((-z, -r, n), abs=1e-12)
    assert _signed_rank_z(x - x) == (0.0, 0.0, 0)


@FAST
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(1, 8), st.integers(1, 8)),
                min_size=1, max_size=30))
def test_cmh_antisymmetric_and_one_table_matches_yates_chi2(slots):
    a = np.asarray(slots, dtype=float)
    ec, eb = np.minimum(a[:, 0], a[:, 2]), np.minimum(a[:, 1], a[:, 3])
    nc, nb = a[:, 2], a[:, 3]
    z = _cmh_z(eb, nb, ec, nc)
    assert _cmh_z(ec, nc, eb, nb) == pytest.approx(-z, abs=1e-12)
    assert _cmh_z(eb, nb, eb, nb) == pytest.approx(0.0, abs=1e-12)
    # One pooled table: the CMH statistic is Yates' chi^2 x (N - 1) / N.
    kc, kb, Nc, Nb = ec.sum(), eb.sum(), nc.sum(), nb.sum()
    one = _cmh_z(np.array([kb]), np.array([Nb]), np.array([kc]), np.array([Nc]))
    table = np.array([[kc, Nc - kc], [kb, Nb - kb]])
    if (table.sum(axis=0) > 0).all() and (table.sum(axis=1) > 0).all():
        N = table.sum()
        ref = chi2_contingency(table, correction=True).statistic * (N - 1) / N
        assert one * one == pytest.approx(ref, rel=1e-9, abs=1e-12)


# ----------------------------------------------------------------------------------------------
# Real series (NAB), split like a concurrent canary: slot pairs, a seeded coin per pair

def _real_windows(per_category: int = 2, per_series: int = 4):
    from models.judge_eval import concurrent_pairs

    if not (NAB / "data").exists():
        pytest.skip("NAB data not available")
    rng = np.random.default_rng(5)
    out = []
    for cat in ("realAWSCloudwatch", "realAdExchange", "realTweets"):
        for f in sorted((NAB / "data" / cat).glob("*.csv"))[:per_category]:
            x = pd.read_csv(f)["value"].to_numpy(dtype=float)
            out += [(f"{cat}/{f.name}", b, c) for b, c, _, _ in concurrent_pairs(x, 288, per_series, rng)]
    return out


def test_real_nab_paired_x2_level_fails_and_no_change_does_not():
    wins = _real_windows()
    assert len(wins) >= 20
    for name, b, c in wins:
        same = judge({"latency_p95_ms": b}, {"latency_p95_ms": c}, paired=True)
        assert same.verdict != "fail", (name, same.explanation)
        if np.mean(np.r_[b, c] == 0) < JudgePolicy().zero_share:   # the level can be seen at all
            worse = judge({"latency_p95_ms": b}, {"latency_p95_ms": 2 * c}, paired=True)
            assert worse.verdict == "fail" and "latency_p95_ms" in worse.failed, (name, worse.to_rows())
            assert worse.metrics[0].test == "signed-rank (paired)" and worse.judge_version == JUDGE_VERSION


# ----------------------------------------------------------------------------------------------
# Bad input: hold with a reason, never a crash, never a verdict without data

def test_nan_slots_drop_their_pairs_and_all_nan_is_hold():
    rng = np.random.default_rng(3)
    b = rng.lognormal(3, 0.2, 40)
    c = b * 2.0
    b[::5] = np.nan                      # lost requests on the baseline side
    c[1::7] = np.inf
    v = judge({"m": b}, {"m": c}, paired=True)
    row = v.metrics[0]
    valid = int(np.sum(np.isfinite(b) & np.isfinite(c)))
    assert row.n_baseline == row.n_canary == valid and row.dropped == 2 * (40 - valid)
    assert v.verdict == "fail" and row.test == "signed-rank (paired)"
    nan = judge({"m": np.full(20, np.nan)}, {"m": c[:20]}, paired=True)
    assert nan.verdict == "hold" and "too few valid slot pairs" in nan.metrics[0].reason


def test_one_sample_and_too_few_pairs_are_hold_with_reason():
    v = judge({"m": [5.0]}, {"m": [50.0]}, paired=True)
    assert v.verdict == "hold" and "need 8" in v.metrics[0].reason and "no metric has enough samples" in v.explanation
    e = judge({"error_rate": [[1, 10]] * 3}, {"error_rate": [[9, 10]] * 3}, paired=True)
    assert e.verdict == "hold" and "too few calls" in e.metrics[0].reason


def test_all_equal_pairs_pass_with_the_reason_never_fail():
    x = np.r_[np.full(10, 7.0), np.full(10, 3.0)]
    v = judge({"m": x}, {"m": x.copy()}, paired=True)
    assert v.verdict == "pass" and v.metrics[0].reason == "every slot pair equal: no change"
    assert v.metrics[0].p_value == 1.0
    const = judge({"m": np.zeros(30)}, {"m": np.zeros(30)}, paired=True)
    assert const.verdict == "pass"


def test_unequal_lengths_fall_back_to_unpaired_and_say_so():
    rng = np.random.default_rng(4)
    v = judge({"m": rng.lognormal(3, 0.2, 40)}, {"m": rng.lognormal(3, 0.2, 37) * 2}, paired=True)
    assert v.verdict == "fail" and v.metrics[0].test == "mann-whitney (unpaired: 40 vs 37 samples)"
    short = judge({"m": rng.lognormal(3, 0.2, 40)}, {"m": [1.0, 2.0]}, paired=True)
    assert short.verdict == "hold" and "too few samples" in short.metrics[0].reason


def test_error_counts_pair_by_slot_and_bad_rows_drop_the_pair():
    rng = np.random.default_rng(8)
    calls = np.full(150, 100.0)
    p = 0.01 * (0.5 + rng.random(150))      # load moves both sides of a slot alike
    base = np.column_stack([rng.binomial(100, p), calls])
    same = np.column_stack([rng.binomial(100, p), calls])
    worse = np.column_stack([rng.binomial(100, 3 * p), calls])
    assert judge({"error_rate": base}, {"error_rate": same}, paired=True).verdict != "fail"
    v = judge({"error_rate": base}, {"error_rate": worse}, paired=True)
    assert v.verdict == "fail" and v.metrics[0].test == "cmh (paired by slot)"
    bad = worse.astype(float).copy()
    bad[0] = [5, 2]                          # more errors than calls: that pair is dropped
    bad[1] = [np.nan, 100]
    row = judge({"error_rate": base}, {"error_rate": bad}, paired=True).metrics[0]
    assert row.dropped == 4 and row.n_baseline == 148 * 100


def test_sparse_metric_level_by_two_part_and_spread_row_defers_to_it():
    rng = np.random.default_rng(9)
    b = np.where(rng.random(144) < 0.7, 0.0, rng.lognormal(3, 0.3, 144))
    c = np.where(rng.random(144) < 0.7, 0.0, rng.lognormal(3, 0.3, 144) * 3)
    v = judge({"latency_p95_ms": b}, {"latency_p95_ms": c}, paired=True)
    level, spread = v.metrics
    assert level.test == "two-part (paired by slot)" and v.verdict == "fail"
    assert spread.test == "none" and spread.classification == "Pass" and "two-part" in spread.reason
    # Zeros only the canary has are a change, not a sparse metric: still judged pair by pair.
    dense = rng.lognormal(3, 0.3, 144)
    holes = np.where(rng.random(144) < 0.3, 0.0, dense * 1.02)
    rows = judge({"latency_p95_ms": dense}, {"latency_p95_ms": holes}, paired=True).metrics
    assert [r.test for r in rows] == ["signed-rank (paired)", "squared ranks (paired by slot)"]


@FAST
@given(st.integers(0, 2**32 - 1), st.floats(0.9, 2.5))
def test_counts_with_some_zeros_have_their_spread_judged_pair_by_pair(seed, mean):
    """Low counts (Poisson, 8-41 % zeros, median above 0): the spread row is the paired Brown-Forsythe,
    not deferred to the level's two-part test (which cannot see a spread change). A canary twice as
    spread around the same median fails; the same process on both sides never does."""
    rng = np.random.default_rng(seed)
    load = 1 + 0.3 * np.sin(np.arange(2000) / 40)          # slow drift both sides share
    b, c = rng.poisson(mean * load).astype(float), rng.poisson(mean * load).astype(float)
    assume(np.mean(b == 0) >= JudgePolicy().zero_share and np.median(b) > 0)
    m = np.median(c)
    wide = np.clip(m + 2.0 * (c - m), 0, None)
    spread = judge({"latency_p95_ms": b}, {"latency_p95_ms": wide}, paired=True).metrics[1]
    assert spread.test == "squared ranks (paired by slot)" and spread.classification == "High"
    same = judge({"latency_p95_ms": b}, {"latency_p95_ms": c}, paired=True)
    assert same.metrics[1].test == "squared ranks (paired by slot)" and same.verdict != "fail"


ODD = st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3).map(float)), max_size=40)


@FAST
@given(ODD, ODD, st.booleans())
def test_any_input_gets_a_verdict_and_identical_samples_never_fail(b, c, counts):
    metrics = {"latency_p95_ms": b, "error_rate": np.column_stack([np.abs(b), np.full(len(b), 50.0)]) if counts else b}
    other = {"latency_p95_ms": c, "error_rate": np.column_stack([np.abs(c), np.full(len(c), 50.0)]) if counts else c}
    v = judge(metrics, other, paired=True)
    assert v.verdict in ("pass", "marginal", "fail", "hold") and v.explanation
    assert all(r.reason for r in v.metrics)
    assert judge(metrics, metrics, paired=True).verdict in ("pass", "hold")
