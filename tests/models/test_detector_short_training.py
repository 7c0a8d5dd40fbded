"""The training quantile lifts the threshold only when the training part can estimate it.

``SeasonalRankDetector.fit`` takes the larger of the Bonferroni bound (capped for coarse rows) and the
``1 - far`` quantile of the training rows' scores, the latter only when the training rows hold at least
``min_train_exceed`` (5) expected rows above it. From fewer rows the quantile is the level of the one
incident in the training part (its spike and the trailing means it drags up are one cluster of rows).
Generated series (hypothesis) and the real NAB series, reshaped to 30-minute means as in table 1b of
``bench/ai_real.py``.
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
    below the rolling robust z (50.4 against 51.8 over 3 seeds) when a training incident lifted the
    threshold of series with 100-400 training rows. Now above it, with the share of scored rows
    outside labelled windows above the threshold near the 0.5 % target."""
    from models.nab_perturb import perturbed_corpus

    pc = perturbed_corpus(corpus, "mean30min", 7)
    runs = run_corpus(pc)
    nab = {k: evaluate(pc, r["scores"], r["alarms"])["nab"] for k, r in runs.items()}
    assert nab["project"] > nab["rolling_robust_z"] + 1.0, nab
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
