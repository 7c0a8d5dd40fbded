"""Forecasters on histories with long gaps or too little of it: a forecast, never a crash inside
HistGradientBoosting (an all-NaN feature column such as lag336 cannot be binned)."""


import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st



@pytest.fixture(scope="module")
def goog(goog) -> pd.DataFrame:
    df = goog.assign(value=pd.to_numeric(goog["value"]))
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    return df


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gap_start=st.integers(0, 150), gap_hours=st.integers(400, 800), after=st.integers(0, 300))
def test_model_forecasts_across_a_long_gap(goog, gap_start, gap_hours, after):
    """A gap of 2-5 weeks early in a real series; the origin up to ~2 weeks after it (when the only
    hours with a level behind them come before hour 336, lag336 has no value in the training rows)."""
    from models.forecast_select import _model, hourly

    t0 = goog["timestamp"].iloc[0] + pd.Timedelta(hours=gap_start)
    keep = (goog["timestamp"] < t0) | (goog["timestamp"] >= t0 + pd.Timedelta(hours=gap_hours))
    y = hourly(goog["timestamp"][keep], goog["value"][keep])
    origin = min(len(y) - 25, max(3 * 168, gap_start + gap_hours) + after)
    hours = np.arange(origin + 1, origin + 25)
    fc = _model(y.to_numpy(), pd.DatetimeIndex(y.index), origin, hours, max_iter=10)
    assert fc.shape == (24,) and np.isfinite(fc).all()


@settings(max_examples=5, deadline=None)
@given(hours=st.integers(48, 335 + 24))
def test_cost_forecaster_fits_less_than_two_weeks(split, hours):
    """lag336 exists for no training hour when the history is shorter than 336 + 24 hours."""
    from models.forecast import CostForecaster

    train = split[0]
    ts = pd.to_datetime(train["ts"], utc=True)
    hist = train[(ts < ts.min() + pd.Timedelta(hours=hours)).to_numpy()]
    fc = CostForecaster(max_iter=10).fit(hist)
    assert np.isfinite(fc.forecast(hist, 24)["cost"]).all()


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gap_start=st.integers(950, 1250), gap_hours=st.integers(2, 120), cut=st.integers(0, 11))
def test_hours_without_rows_and_partial_edges_are_not_scored(goog, gap_start, gap_hours, cut):
    """A gap in the evaluated part and a series cut mid-hour: no invented zero, no partial hour scored."""
    from models.forecast_select import backtest, hourly_table, maes, trim_partial_edges

    t0 = goog["timestamp"].iloc[0].floor("h") + pd.Timedelta(hours=gap_start)
    keep = (goog["timestamp"] < t0) | (goog["timestamp"] >= t0 + pd.Timedelta(hours=gap_hours))
    part = goog[keep].iloc[cut:len(goog) - cut]
    h, dropped = trim_partial_edges(hourly_table(part["timestamp"], part["value"]))
    counts = part["timestamp"].dt.floor("h").value_counts()
    assert (h["rows"].iloc[[0, -1]] == counts.median()).all()
    assert {d[1] for d in dropped} == {t for t in (counts.index.min(), counts.index.max()) if counts[t] < 12}
    bt = backtest(h["value"], horizon=168, max_iter=5, observed=(h["numbers"] > 0).to_numpy())
    in_gap = (bt["timestamp"] >= t0) & (bt["timestamp"] < t0 + pd.Timedelta(hours=gap_hours))
    assert bt.loc[in_gap, "actual"].isna().all() and bt.loc[~in_gap, "actual"].notna().all()
    seen = bt[~in_gap]
    assert maes(bt)["naive168"] == pytest.approx((seen["naive168"] - seen["actual"]).abs().mean())
