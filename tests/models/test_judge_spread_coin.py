"""The paired spread row's p-value from the slot-pair coin (``judge_stats._spread_coin_z``), and the
bench's window placement (``models.judge_eval.sequential_pairs(fit=True)``). Inputs: generated
series (hypothesis: quantised, bursty, drifting, zero-inflated) and real NAB series."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from models.judge_eval import horizon, sequential_pairs, spread_above_floor
from wasmops.ai.judge_stats import _p_two_sided, _spread_coin_z
from wasmops.ai.release_judge import JudgePolicy, judge

NAB = Path(__file__).resolve().parents[3] / "shared" / "data" / "nab"
FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _series(seed: int, n: int, step: float, zeros: float, drift: float) -> np.ndarray:
    """A non-negative series with a slow level drift, bursts, zeros and quantisation to ``step``."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    level = np.exp(drift * np.sin(t / rng.uniform(20, 300)) + rng.normal(0, 0.3, n).cumsum() / np.sqrt(n))
    x = level * rng.lognormal(0, rng.uniform(0.1, 1.2), n)
    x[rng.random(n) < 0.02] *= rng.uniform(3, 20)                       # bursts
    x[rng.random(n) < zeros] = 0.0
    return np.round(x / step) * step if step > 0 else x


def _coin(x: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    flip = rng.integers(0, 2, len(x) // 2)
    even = np.arange(0, len(x) - 1, 2)
    return x[even + 1 - flip], x[even + flip]


@FAST
@given(st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.05, 0.5, 1.0]), st.floats(0.0, 0.6),
       st.floats(0.0, 2.0), st.sampled_from([24, 144, 600]))
def test_under_the_coin_the_statistic_is_a_fair_sign_flip_sum(seed, step, zeros, drift, pairs):
    """Swapping the two slots of any set of pairs flips the signs of those pairs' scores only (the
    pooled centre and every |d_i| stay), so z under the coin is a sign-flip sum: antisymmetric, and
    over many coins of one series no more often past p < 0.01 than nominal (the normal tail of a
    bounded sign-flip sum is conservative)."""
    x = _series(seed, 2 * pairs, step, zeros, drift)
    rng = np.random.default_rng(seed ^ 0x5EED)
    b, c = _coin(x, rng)
    assert _spread_coin_z(b, c) == pytest.approx(-_spread_coin_z(c, b), abs=1e-12)
    ps = [_p_two_sided(_spread_coin_z(*_coin(x, rng))) for _ in range(300)]
    assert np.mean(np.array(ps) < 0.01) <= 0.03, sorted(ps)[:10]


@FAST
@given(st.integers(0, 2**32 - 1), st.floats(1.0, 1.15), st.floats(0.05, 0.6), st.floats(0.0, 0.15))
def test_a_level_shift_under_its_floor_never_fails_the_spread_row(seed, k, sigma, zeros):
    """The pooled centre lets a level shift into d, so the row's effect and its floor stay on each
    side's own median: a canary up to x1.15 (under the 20 % level floor), spread unchanged, is not a
    spread regression, however small the coin's p-value."""
    rng = np.random.default_rng(seed)
    x = rng.lognormal(3, sigma, 2 * 300) * (rng.random(600) >= zeros)
    b, c = _coin(x, rng)
    v = judge({"latency_p95_ms": b}, {"latency_p95_ms": c * k}, paired=True)
    spread = v.metrics[1]
    assume(spread.test.startswith("squared ranks"))
    assert spread.reason != "regression", spread
    assert v.verdict != "fail", v.explanation


@FAST
@given(st.integers(0, 2**32 - 1), st.floats(0.05, 0.8), st.sampled_from([0.0, 0.5]))
def test_a_doubled_spread_fails_and_the_same_process_does_not(seed, sigma, step):
    """Light tails (no bursts: one burst can carry a side's mean deviation, the row's effect), a slow
    drift both sides share, quantised or not."""
    rng = np.random.default_rng(seed)
    drift = np.exp(0.3 * np.sin(np.arange(800) / 90))
    x = np.round(drift * rng.lognormal(3, sigma, 800) / max(step, 1e-9)) * step if step else drift * rng.lognormal(3, sigma, 800)
    b, c = _coin(x, rng)
    m = np.median(c)
    wide = np.clip(m + 2.0 * (c - m), 0, None)
    bad = judge({"latency_p95_ms": b}, {"latency_p95_ms": wide}, paired=True).metrics[1]
    assert bad.test == "squared ranks (paired by slot)" and bad.reason == "regression", bad
    same = judge({"latency_p95_ms": b}, {"latency_p95_ms": c}, paired=True).metrics[1]
    assert same.reason != "regression"


def test_real_nab_no_change_windows_stay_calibrated_and_x2_spread_is_seen():
    """Real series split by the coin (first look: 144 slot pairs): no-change spread p-values are not
    smaller than nominal, and a doubled spread around each first look's own median is caught."""
    from models.nab_eval import load_corpus

    if not (NAB / "data").exists():
        pytest.skip("NAB data not available")
    corpus = load_corpus(NAB / "data", NAB / "labels" / "combined_windows.json")
    rng = np.random.default_rng(12)
    ps, caught, dense = [], 0, 0
    for ser in corpus:
        if not ser.name.startswith(("realAWSCloudwatch", "realAdExchange", "realTweets")):
            continue
        for b, c, _, _ in sequential_pairs(ser.values, 288, 6, 1, rng):
            ps.append(_p_two_sided(_spread_coin_z(b, c)))
            if np.mean(np.r_[b, c] == 0) < 0.2:
                dense += 1
                m = np.median(c)
                caught += _p_two_sided(_spread_coin_z(b, np.clip(m + 2 * (c - m), 0, None))) < 5e-5
    assert len(ps) >= 150 and np.mean(np.array(ps) < 0.01) <= 0.03 and min(ps) > 5e-5
    assert caught >= 0.8 * dense, (caught, dense)


@given(st.integers(288, 40_000), st.integers(1, 6))
def test_fit_places_every_window_where_the_longest_horizon_the_series_holds_fits(n, looks):
    h = horizon(n, 288, looks)
    assert h <= max(n, 288) and h in [288 * 2 ** j for j in range(looks)]
    assert h == 288 * 2 ** (looks - 1) or 2 * h > n            # the next look's horizon would not fit
    x = np.arange(float(n))
    for b, c, _, _ in sequential_pairs(x, 288, 20, looks, np.random.default_rng(0), fit=True):
        assert len(b) == len(c) >= h // 2                       # (and on to the planned horizon)
    wins = sequential_pairs(x, 288, 20, looks, np.random.default_rng(0))
    assert len(wins) >= len(sequential_pairs(x, 288, 20, looks, np.random.default_rng(0), fit=True))


@given(st.lists(st.floats(0, 1e6), min_size=2, max_size=300), st.floats(1.0, 5.0))
def test_the_spread_injection_above_the_floor_is_non_negative_and_exactly_k(values, k):
    """The bench's no-clip spread injection: never under 0, the mean absolute deviation from the
    median exactly k times the old one whenever the values above the median can carry it, and the
    plain ``m + k (c - m)`` where nothing would be clipped."""
    c = np.array(values)
    m = float(np.median(c))
    out = spread_above_floor(c, k, m)
    assert (out >= 0).all() and np.isfinite(out).all()
    before = np.sum(np.abs(c - m))
    if np.any(c > m) and before > 1e-6 * max(m, 1.0):
        assert np.sum(np.abs(out - m)) == pytest.approx(k * before, rel=1e-6)
    if (m + k * (c - m) >= 0).all():
        assert np.allclose(out, m + k * (c - m))
