"""The production cost model serves each module its own champion: the pooled model, or the naive
forecast that beat it in a backtest on that module's history (models/forecast_champions.py).

Inputs are drawn here, not taken from the synthesizer the model was developed on: an office-hours
module (no traffic at night and at weekends, like a bank's call log) on which the pooled model's
median regression predicts 0 all week, and a module whose cost repeats a drawn week exactly.
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import forecast_champions as champions
from models.forecast import CostForecaster

PRICES = {"fuel_per_million": 1e6, "memory_gib_hour": 0.0, "invocations_per_million": 0.0}  # cost = fuel
START = pd.Timestamp("2026-03-02T01:00Z")  # a Monday; a row's ts ends its hour


def _telemetry(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    parts = [pd.DataFrame({"ts": pd.date_range(START, periods=len(v), freq="h"), "module": m, "team": "t",
                           "fuel": v, "invocations": 0, "memory_limit": 0, "replicas": 0, "window_s": 3600})
             for m, v in columns.items()]
    return pd.concat(parts, ignore_index=True)


def _office_hours(weeks: int, opens: int, hours_open: int, level: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(weeks * 168)
    hour, day = (t + 1) % 24, ((t + 1) // 24) % 7      # the hour each row's window covers
    open_ = (day < 5) & (hour >= opens) & (hour < opens + hours_open)
    return np.where(open_, rng.poisson(level, len(t)), 0).astype(float)


def _mae(fc: pd.DataFrame, module: str, actual: np.ndarray) -> float:
    return float(np.mean(np.abs(fc.loc[fc["module"] == module, "cost"].to_numpy() - actual)))


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(opens=st.integers(6, 10), hours_open=st.integers(6, 12), level=st.floats(50, 5000), seed=st.integers(0, 99))
def test_an_office_hours_module_is_served_no_worse_than_repeating_last_week(opens, hours_open, level, seed):
    y = _office_hours(6, opens, hours_open, level, seed)
    steady = 100 + 20 * np.sin(np.arange(len(y)) * 2 * np.pi / 24)
    hist = _telemetry({"office": y[:-168], "steady": steady[:-168]})
    fc = CostForecaster(prices=PRICES, max_iter=100).fit(hist)      # fewer trees: the same zero forecast
    week = fc.forecast(hist, 168)
    served, naive168 = _mae(week, "office", y[-168:]), float(np.mean(np.abs(y[-336:-168] - y[-168:])))
    model = float(np.mean(np.abs(fc._served_and_model(hist, 168)[1].reshape(168, 2)[:, 0] - y[-168:])))
    assert fc.champion_origins_ >= 2
    assert served <= naive168 * 1.05, (fc.champions_, fc.champion_mae_["office"], served, naive168, model)
    if fc.champions_["office"] == "model":  # kept only where it backtested best
        assert fc.champion_mae_["office"]["model"] <= min(fc.champion_mae_["office"].values())


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(week=st.lists(st.floats(0.5, 50), min_size=168, max_size=168), weeks=st.integers(4, 5))
def test_a_module_that_repeats_its_week_is_forecast_exactly(week, weeks):
    y = np.tile(np.asarray(week), weeks)
    rng = np.random.default_rng(0)
    hist = _telemetry({"weekly": y, "noisy": 10 + rng.gamma(2.0, 2.0, len(y))})
    fc = CostForecaster(prices=PRICES, max_iter=100).fit(hist)
    chosen = fc.champions_["weekly"]        # naive168 or mean4w; the model too where it is exact (a flat week)
    assert fc.champion_mae_["weekly"][chosen] == pytest.approx(0.0, abs=1e-9)
    out = fc.forecast(hist, 60)
    np.testing.assert_allclose(out.loc[out["module"] == "weekly", "cost"].to_numpy(), np.tile(week, 2)[:60])


def test_too_short_a_history_keeps_the_model_and_the_month_says_who_forecast():
    y = _office_hours(3, 8, 9, 300.0, 1)[:480]      # 20 days: no origin with 2 weeks behind and a week after
    hist = _telemetry({"a": y, "b": y[::-1].copy()})
    fc = CostForecaster(prices=PRICES).fit(hist)
    assert fc.champion_origins_ == 0 and set(fc.champions_.values()) == {"model"}
    month = fc.forecast_rest_of_month(hist, hist["ts"].max())
    assert month.per_module.set_index("module")["forecast_by"].to_dict() == {"a": "model", "b": "model"}


def test_select_weeks_zero_is_the_pooled_model_everywhere():
    y = _office_hours(5, 8, 9, 300.0, 2)
    fc = CostForecaster(prices=PRICES, select_weeks=0).fit(_telemetry({"a": y}))
    assert fc.champions_ == {"a": "model"} and fc.champion_origins_ == 0


@pytest.mark.parametrize("n, expected", [(503, []), (504, [335]), (840, [335, 503, 671]),
                                         (5000, list(range(4831 - 168 * 5, 4832, 168)))])
def test_origins_leave_a_week_after_and_two_weeks_before(n, expected):
    assert champions.origins(n) == expected


@pytest.mark.parametrize("mae, expected", [
    ({"model": 1.0, "naive24": 1.2, "naive168": 1.1, "mean4w": 0.95}, "model"),     # 5 % better: noise
    ({"model": 1.0, "naive24": 1.2, "naive168": 0.85, "mean4w": 0.88}, "naive168"),  # 15 % better
    ({"model": float("nan"), "naive24": 2.0, "naive168": 1.0, "mean4w": 1.5}, "naive168"),
    ({"model": float("nan"), "naive24": float("nan"), "naive168": float("nan"), "mean4w": float("nan")}, "model"),
])
def test_a_naive_forecast_serves_only_when_clearly_better_than_the_model(mae, expected):
    assert champions._best(mae) == expected


def test_a_module_that_arrives_late_or_stops_gets_a_finite_forecast():
    y = _office_hours(5, 8, 9, 300.0, 3)
    late, stopped = y.copy(), y.copy()
    late[:-200] = np.nan                      # deployed 200 hours ago
    stopped[-300:] = np.nan                   # no telemetry for 300 hours
    hist = _telemetry({"steady": y, "late": late, "stopped": stopped}).dropna(subset=["fuel"])
    fc = CostForecaster(prices=PRICES).fit(hist)
    assert set(fc.champions_) == {"steady", "late", "stopped"} and fc.champion_origins_ >= 2
    out = fc.forecast(hist, 48)
    assert np.isfinite(out["cost"]).all() and (out["cost"] >= 0).all()
