"""The detector on short and coarse series: the training quantile lifts the threshold only when the
training part can estimate it; the seasonal baseline's daily medians hold 3 rows at coarse steps.

``SeasonalRankDetector.fit`` takes the larger of the Bonferroni bound (capped for coarse rows) and the
``1 - far`` quantile of the training rows' scores, the latter only when the training rows hold at least
``min_train_exceed`` (5) expected rows above it. From fewer rows the quantile is the level of the one
incident in the training part (its spike and the trailing means it drags up are one cluster of rows).
``seasonal_baseline`` takes the median of the same time of day over 1 hour or 3 sampling steps,
whichever is longer. Generated series (hypothesis) and the real NAB series, reshaped to 30-minute
means as in table 1b of ``bench/ai_real.py``.
"""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.detector import COMPONENTS, DetectorConfig, SeasonalRankDetector, train_rows
from models.nab_eval import evaluate, load_corpus, run_corpus

NAB = Path(__file__).resolve().parents[3] / "shared" / "data" / "nab"


def _bound(det: SeasonalRankDetector, ts) -> float:
    return min(math.log10(len(COMPONENTS) / det.far_), det._attainable(ts))


def _series(step: str, rows: int, seed: int, kind: str) -> tuple[pd.DatetimeIndex, np.ndarray]:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2026-01-01", periods=rows, freq=step, tz="UTC")
    day = np.sin(2 * np.pi * (ts.hour.to_numpy() + ts.minute.to_numpy() / 60) / 24)
    if kind == "lognormal":                       # heavy-tailed, like bytes written
        return ts, rng.lognormal(0, 1, rows) * (2 + day)
    if kind == "counts":                          # zero-inflated, like errors
        return ts, rng.poisson(0.3 * (1.5 + day)).astype(float)
    return ts, 50 + 10 * day + rng.normal(0, 3, rows)


@settings(max_examples=25, deadline=None)
@given(step=st.sampled_from(["5min", "30min", "h"]), train=st.integers(60, 999), seed=st.integers(0, 10_000),
       kind=st.sampled_from(["lognormal", "counts", "normal"]), size=st.floats(5, 1e4), width=st.integers(1, 12),
       at=st.floats(0.2, 0.9))
def test_one_incident_in_a_short_training_part_does_not_move_the_threshold(step, train, seed, kind, size, width, at):
    """Fewer than 1,000 training rows at 0.5 % (< 5 expected rows above the quantile): the threshold is
    the bound whatever incident the training part holds, so it is the same with and without one."""
    ts, x = _series(step, train, seed, kind)
    quiet = SeasonalRankDetector().fit(ts, x)
    lo = int(at * train)
    x = x.copy()
    x[lo:lo + width] += size * (np.std(x) + 1.0)
    det = SeasonalRankDetector().fit(ts, x)
    assert train * det.far_ < DetectorConfig().min_train_exceed
    assert det.threshold_ == quiet.threshold_ == _bound(det, ts)


@settings(max_examples=10, deadline=None)
@given(train=st.integers(1000, 2500), seed=st.integers(0, 10_000), kind=st.sampled_from(["lognormal", "normal"]))
def test_a_long_training_part_still_calibrates_the_threshold(train, seed, kind):
    """1,000 training rows or more at 5 minutes: the threshold is the larger of the bound and the
    training scores' 1 - far quantile (the lift for series whose p-values are not exact)."""
    ts, x = _series("5min", train, seed, kind)
    det = SeasonalRankDetector().fit(ts, x)
    scores = det._score(ts, x)[0]
    assert det.threshold_ == max(_bound(det, ts), float(np.quantile(scores, 1.0 - det.far_)))


@pytest.fixture(scope="module")
def corpus():
    if not (NAB / "labels" / "combined_windows.json").exists():
        pytest.skip("NAB data not available")
    return load_corpus(NAB / "data", NAB / "labels" / "combined_windows.json")


def test_real_series_in_30_minute_means_beat_the_robust_z_within_the_false_alarm_target(corpus):
    """The NAB development set as 30-minute means (table 1b's mean30min, seed 7): the detector scored
    below the rolling robust z (50.4 against 51.8) when a training incident lifted the threshold of
    series with 100-400 training rows and each day's seasonal median held 2 rows. Now above it
    (measured 57.2), with the share of scored rows outside labelled windows above the threshold near
    the 0.5 % target (measured 0.50 %)."""
    from models.nab_perturb import perturbed_corpus

    pc = perturbed_corpus(corpus, "mean30min", 7)
    runs = run_corpus(pc)
    nab = {k: evaluate(pc, r["scores"], r["alarms"])["nab"] for k, r in runs.items()}
    assert nab["project"] > nab["rolling_robust_z"] + 3.0, nab
    above = rows = 0
    cfg = DetectorConfig()
    for ser in pc:
        n = train_rows(len(ser.values))
        det = SeasonalRankDetector(cfg).fit(ser.ts[:n], ser.values[:n])
        out = det.run(ser.ts, ser.values)
        normal = ~ser.in_window()
        normal[:n] = False
        above, rows = above + int((out.above & normal).sum()), rows + int(normal.sum())
    assert above / rows < 0.006, above / rows


def test_long_trained_real_series_keep_the_lift(corpus):
    """realTweets (about 2,380 training rows at 5 minutes): the training quantile still lifts some
    thresholds above the bound, as before (it pays there: dropping it everywhere cost the dev set)."""
    tweets = [s for s in corpus if s.name.startswith("realTweets/")]
    if not tweets:
        pytest.skip("realTweets not available")
    lifted = 0
    for ser in tweets:
        n = train_rows(len(ser.values))
        det = SeasonalRankDetector().fit(ser.ts[:n], ser.values[:n])
        assert n * det.far_ >= DetectorConfig().min_train_exceed
        lifted += det.threshold_ > _bound(det, ser.ts[:n])
    assert lifted >= 2, lifted


@settings(max_examples=25, deadline=None)
@given(step=st.sampled_from(["30min", "h"]), seed=st.integers(0, 10_000), size=st.floats(10, 1e6),
       sign=st.sampled_from([-1.0, 1.0]), at=st.floats(0.0, 0.99))
def test_one_odd_row_a_day_does_not_set_a_coarse_series_seasonal_baseline(step, seed, size, sign, at):
    """Rows of 30 minutes or more: each day's time-of-day median holds 3 rows (it held 2 at 30
    minutes and 1 at an hour, so one odd row yesterday was tomorrow's baseline)."""
    from models.detector import _step_ns, seasonal_baseline

    ts = pd.date_range("2026-01-01", periods=48 * 3 if step == "30min" else 24 * 3, freq=step, tz="UTC")
    day = len(ts) // 3
    u = pd.Series(np.sin(2 * np.pi * np.arange(len(ts)) / day) + np.random.default_rng(seed).normal(0, 0.05, len(ts)),
                  index=ts)
    i = day + 1 + int(at * (day - 2))                   # an odd row on the second day, not at its ends
    u.iloc[i] += sign * size
    base = seasonal_baseline(u, 1, _step_ns(ts), DetectorConfig().season_rows)
    near = u.iloc[[i - 1, i + 1]]
    assert near.min() - 0.5 <= base.iloc[i + day] <= near.max() + 0.5


@settings(max_examples=15, deadline=None)
@given(step=st.sampled_from(["1min", "5min", "10min"]), seed=st.integers(0, 10_000), days=st.integers(1, 7))
def test_fine_rows_keep_the_one_hour_seasonal_median(step, seed, days):
    """Rows of 20 minutes or less: 3 steps fit in the hour, the baseline is what it was."""
    from models.detector import _step_ns, seasonal_baseline

    ts = pd.date_range("2026-01-01", periods=3000, freq=step, tz="UTC")
    u = pd.Series(np.random.default_rng(seed).lognormal(0, 1, len(ts)), index=ts)
    pd.testing.assert_series_equal(seasonal_baseline(u, days, _step_ns(ts)), seasonal_baseline(u, days))
