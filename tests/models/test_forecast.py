"""CostForecaster: beats the weekly seasonal-naive baseline; month-end projections add up."""

import numpy as np
import pandas as pd
import pytest

from models.features import Prices, hourly_cost, row_cost
from models.forecast import CostForecaster, forecast_rest_of_month, seasonal_naive


def test_beats_seasonal_naive_on_the_final_week(forecaster, split):
    m = forecaster.evaluate(*split)
    print(f"\ncost holdout ({m['horizon_hours']} h, {m['n']} module-hours): MAE {m['mae']:.5f} vs "
          f"seasonal-naive {m['baseline_mae']:.5f} -> ratio {m['mae_ratio']:.3f}; "
          f"team MAE {m['team_mae']:.4f} vs {m['team_baseline_mae']:.4f}")
    assert m["horizon_hours"] == 168
    assert m["mae_ratio"] <= 0.85


def test_seasonal_naive_repeats_the_last_week(split):
    train = split[0]
    base = seasonal_naive(train, 200)
    costs = hourly_cost(train)
    mod = costs["module"].iloc[0]
    hist = costs[costs["module"] == mod]["cost"].to_numpy()
    pred = base[base["module"] == mod]["cost"].to_numpy()
    assert np.allclose(pred[:168], hist[-168:]) and np.allclose(pred[168:], hist[-168:-136])


def test_forecast_shape_and_non_negative(forecaster, split):
    train = split[0]
    fc = forecaster.forecast(train, 30)
    assert len(fc) == 30 * train["module"].nunique()
    assert fc["ts"].min() == train["ts"].max() + pd.Timedelta(hours=1)
    assert (fc["cost"] >= 0).all() and fc["cost"].notna().all()


def test_predict_aligns_with_rows(forecaster, split):
    train = split[0]
    p = forecaster.predict(train)
    assert len(p) == len(train)
    late = train["ts"] >= train["ts"].min() + pd.Timedelta(days=2)
    assert np.isfinite(p[late.to_numpy()]).all()


def test_rest_of_month_totals_per_team_and_module(forecaster, data):
    now = pd.Timestamp("2025-01-27 10:30", tz="UTC")  # the synthetic data starts 2025-01-06
    r = forecaster.forecast_rest_of_month(data, now)
    assert r.month_end == pd.Timestamp("2025-02-01", tz="UTC")
    # samples are labelled by the end of their window: the last one seen ends 10:00, so the hours
    # ending 11:00 ... Feb 1 00:00 (the month's last hour) are forecast
    assert r.hours_forecast == 4 * 24 + 14
    hist = data[data["ts"] <= now]
    assert r.per_module["mtd_cost"].sum() == pytest.approx(row_cost(hist).sum())
    assert set(r.per_team["team"]) == set(data["team"])
    assert r.per_team["projected_cost"].sum() == pytest.approx(r.per_module["projected_cost"].sum())
    assert r.total == pytest.approx(r.per_team["projected_cost"].sum())
    # the forecast is in the right range: the last two weeks' hourly rate times the hours left
    hourly = row_cost(hist[hist["ts"] > now - pd.Timedelta(days=14)]).sum() / (14 * 24)
    assert 0.7 < r.per_module["forecast_cost"].sum() / (hourly * r.hours_forecast) < 1.3


def test_month_boundaries_follow_window_ends(forecaster, data):
    """The sample ending Feb 1 00:00 covers Jan 31 23:00-24:00: it is January's."""
    jan = forecaster.forecast_rest_of_month(data, "2025-01-31 23:30")
    assert jan.hours_forecast == 1
    feb = forecaster.forecast_rest_of_month(data, "2025-02-01 00:30")
    assert feb.per_module["mtd_cost"].sum() == pytest.approx(0.0)  # no February hour has ended yet
    assert feb.hours_forecast == 28 * 24


def test_rest_of_month_fits_a_model_when_none_given(split):
    train = split[0]
    r = forecast_rest_of_month(train, train["ts"].max() + pd.Timedelta(hours=1), prices=Prices())
    assert r.hours_forecast > 0 and (r.per_team["forecast_cost"] > 0).all()


def test_row_cost_prices_are_parameters(split):
    df = split[0].head(50)
    base = row_cost(df)
    double_fuel = row_cost(df, {"fuel_per_million": 0.0008})
    assert (double_fuel >= base).all() and double_fuel.sum() > base.sum()
    assert np.allclose(row_cost(df, Prices()), base)
    free = row_cost(df, Prices(fuel_per_million=0, memory_gib_hour=0, invocations_per_million=0))
    assert (free == 0).all()


def test_too_little_history_is_an_error(split):
    with pytest.raises(ValueError, match="not enough cost history"):
        CostForecaster().fit(split[0].head(20))
