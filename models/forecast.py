"""Hourly cost forecast per module, aggregated to teams.

Example::

    >>> from models.forecast import CostForecaster
    >>> from wasmops.telemetry import synthesize
    >>> df = synthesize(modules=3, days=28)                          # 2025-01-06 .. 2025-02-03
    >>> history_df, final_week_df = df[df.ts <= "2025-01-27"], df[df.ts > "2025-01-27"]

Fitting the boosted trees takes seconds, so the rest is not run here::

    >>> fc = CostForecaster().fit(history_df)                       # doctest: +SKIP
    >>> fc.forecast(history_df, hours=48).columns.tolist()         # doctest: +SKIP
    ['ts', 'module', 'team', 'cost']
    >>> sorted(fc.evaluate(history_df, final_week_df))              # doctest: +SKIP
    ['baseline_mae', 'horizon_hours', 'mae', 'mae_ratio', 'model_mae', 'n', 'team_baseline_mae', 'team_mae']
    >>> fc.champions_                   # which forecast serves each module   # doctest: +SKIP
    {'prod/mod-000': 'model', 'prod/mod-001': 'mean4w', 'prod/mod-002': 'model'}
    >>> fc.forecast_rest_of_month(history_df, "2025-01-26T12:00Z").per_team.columns.tolist()  # doctest: +SKIP
    ['team', 'mtd_cost', 'forecast_cost', 'projected_cost']

A HistGradientBoostingRegressor learns cost / level (level = the module's mean cost over the
168 hours ending 24 hours earlier) from hour, weekday, module (categorical) and the 24 h, 168 h
and 336 h lags. Forecasts are recursive in blocks of 24 hours: every feature of the next 24 hours
is known once the hours before them are (observed or predicted). The baseline is the 168-hour
seasonal naive forecast (repeat the last observed week), which sees exactly the same history.

Per module, the forecast served is its champion (``champions_``): the model, or the naive forecast
(last day, last week, mean of the last 4 weeks) that beat it in a backtest on the module's own
history, made when the model is fitted (:mod:`models.forecast_champions`). ``mae`` is the served
forecast's error, ``model_mae`` the pooled model's alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingRegressor

from models import forecast_champions as champions
from models.features import (FORECAST_FEATURES, MIN_LAG, cost_matrix, fit_ready, forecast_design, hour_label,
                             hourly_cost, prices_dict)
from models.threads import one_thread

#: Columns the forecaster reads from telemetry (the model signature's inputs).
INPUT_COLUMNS = ("ts", "module", "team", "fuel", "invocations", "memory_limit", "replicas", "window_s")
_MAX_CATEGORIES = 250  # HistGradientBoosting's categorical limit is max_bins (255)


@dataclass
class MonthForecast:
    """Month-to-date actual + forecast for the rest of the month, per module and per team (USD)."""

    now: pd.Timestamp
    month_start: pd.Timestamp
    month_end: pd.Timestamp
    hours_forecast: int
    per_module: pd.DataFrame  # module, team, mtd_cost, forecast_cost, projected_cost, forecast_by (champion)
    per_team: pd.DataFrame    # team, mtd_cost, forecast_cost, projected_cost

    @property
    def total(self) -> float:
        return float(self.per_team["projected_cost"].sum())


class CostForecaster(BaseEstimator):
    """Per-module hourly cost forecaster (see the module docstring). ``prices``: a dict of
    :class:`models.features.Prices` fields, or None for the default prices (``fit`` turns a
    Prices-like object into such a dict so the model stays serialisable with skops)."""

    def __init__(self, max_iter: int = 300, learning_rate: float = 0.05, max_leaf_nodes: int = 31,
                 min_samples_leaf: int = 20, l2_regularization: float = 0.0, loss: str = "absolute_error", use_module: bool = True, use_lags: bool = True,
                 prices: dict | None = None, random_state: int = 0, select_weeks: int = champions.SELECT_ORIGINS):
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.loss = loss
        self.use_module = use_module
        self.use_lags = use_lags
        self.prices = prices
        self.random_state = random_state
        self.select_weeks = select_weeks

    # -- fitting ---------------------------------------------------------------------------------
    def _design(self, Y, times, t, codes):
        X, level = forecast_design(Y, times, t, codes)
        if not self.use_lags:  # ablation: time, module and level only
            X[:, [FORECAST_FEATURES.index(f) for f in FORECAST_FEATURES[3:] if f != "roll168"]] = 0.0
        return X, level

    def _codes(self, modules) -> np.ndarray:
        pos = pd.Index(self.modules_).get_indexer(np.asarray(modules, dtype=str)).astype(float)
        pos[pos < 0] = np.nan  # unseen module: missing category
        return pos if self.categorical_module_ else np.zeros(len(pos))

    @one_thread
    def fit(self, df: pd.DataFrame, y=None) -> CostForecaster:
        """Fit the pooled model on ``df``, then choose each module's champion by backtest
        (:mod:`models.forecast_champions`; ``select_weeks=0``: the model serves every module)."""
        if self.prices is not None and not isinstance(self.prices, dict):
            self.prices = prices_dict(self.prices)  # a plain dict, so skops can save the model
        costs = hourly_cost(df, self.prices)
        times, modules, Y = cost_matrix(costs)
        self._fit_matrix(times, modules, Y)
        self.teams_ = costs.groupby("module")["team"].last().reindex(modules).to_numpy(dtype=str)
        sel = champions.select(Y, lambda o, h: self._backtest_fit(times, modules, Y, o, h), most=self.select_weeks)
        self.champions_ = dict(zip(map(str, modules), sel.champions))
        self.champion_mae_ = dict(zip(map(str, modules), sel.mae))
        self.champion_origins_ = sel.origins
        return self

    def _fit_matrix(self, times, modules, Y) -> None:
        self.modules_ = modules
        self.categorical_module_ = bool(self.use_module and len(modules) <= _MAX_CATEGORIES)
        X, level = self._design(Y, times, np.arange(MIN_LAG, len(times)), self._codes(modules))
        target = Y[MIN_LAG:].ravel() / level
        ok = np.isfinite(target)
        if ok.sum() < 50:
            raise ValueError(f"not enough cost history to fit: {int(ok.sum())} usable module-hours")
        cat = [FORECAST_FEATURES.index("module")] if self.categorical_module_ else None
        self.hgb_ = HistGradientBoostingRegressor(
            loss=self.loss, max_iter=self.max_iter, learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization, categorical_features=cat,
            random_state=self.random_state).fit(fit_ready(X[ok]), target[ok])
        self.n_train_ = int(ok.sum())
        self.train_end_ = str(times[-1])

    def _backtest_fit(self, times, modules, Y, origin: int, hours: int) -> np.ndarray:
        """The model refitted on the hours up to ``origin``, forecasting the ``hours`` after it."""
        past = clone(self)
        past._fit_matrix(times[: origin + 1], modules, Y[: origin + 1])
        return past._model_matrix(times[: origin + 1], modules, Y[: origin + 1], hours)

    # -- prediction ------------------------------------------------------------------------------
    @one_thread
    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """The pooled model's one-step (24 h ahead) prediction of each row's module-hour cost (whatever the
        champions: it gives the MLflow signature) from the rows before it in
        ``df``. Rows of one module-hour get that hour's total. Lacking 24 h of history gives NaN."""
        costs = hourly_cost(df, self.prices)
        times, modules, Y = cost_matrix(costs)
        X, level = self._design(Y, times, np.arange(len(times)), self._codes(modules))
        pred = pd.DataFrame((self.hgb_.predict(X) * level).reshape(len(times), len(modules)),
                            index=times, columns=modules)
        key = pd.MultiIndex.from_arrays([hour_label(df["ts"]).to_numpy(),
                                         df["module"].astype(str)])
        return pred.stack().reindex(key).to_numpy(dtype=float)

    @one_thread
    def forecast(self, history_df: pd.DataFrame, hours: int) -> pd.DataFrame:
        """Hourly cost per module for the ``hours`` after the last hour in ``history_df``: each
        module's champion (``champions_``; ``model`` for a module the fit did not see)."""
        return self._served_and_model(history_df, hours)[0]

    @one_thread
    def _served_and_model(self, history_df: pd.DataFrame, hours: int) -> tuple[pd.DataFrame, np.ndarray]:
        """:meth:`forecast`'s frame, and the pooled model's forecast in its row order (whatever the champions)."""
        costs = hourly_cost(history_df, self.prices)
        times, modules, Y = cost_matrix(costs)
        teams = costs.groupby("module")["team"].last().reindex(modules).to_numpy(dtype=str)
        model = self._model_matrix(times, modules, Y, hours)
        served = champions.compose(model, Y, self._served_by(modules))
        future = pd.date_range(times[-1] + pd.Timedelta(hours=1), periods=hours, freq="h")
        return _long(future, modules, teams, served), model.ravel()

    def _served_by(self, modules) -> list[str]:
        """Each module's champion; ``model`` for one the fit did not see (or a model from before champions)."""
        chosen = getattr(self, "champions_", {})
        return [chosen.get(str(m), "model") for m in modules]

    def _model_matrix(self, times, modules, Y, hours: int) -> np.ndarray:
        """The model's forecast (hours x modules) after the last row of ``Y``: recursive in blocks
        of 24 hours."""
        T = len(times)
        ext = times.append(pd.date_range(times[-1] + pd.Timedelta(hours=1), periods=hours, freq="h"))
        Yx = np.vstack([Y, np.full((hours, len(modules)), np.nan)])
        codes = self._codes(modules)
        fallback = champions.last_week_mean(Y)
        for b in range(T, T + hours, MIN_LAG):
            t = np.arange(b, min(b + MIN_LAG, T + hours))
            X, level = self._design(Yx, ext, t, codes)
            p = (self.hgb_.predict(X) * level).reshape(len(t), len(modules))
            Yx[t] = np.maximum(np.where(np.isfinite(p), p, fallback), 0.0)
        return Yx[T:]

    # -- evaluation ------------------------------------------------------------------------------
    def evaluate(self, history_df: pd.DataFrame, holdout_df: pd.DataFrame) -> dict:
        """MAE of the module-hour forecast over ``holdout_df`` (which follows ``history_df``), and of
        the 168-hour seasonal-naive baseline from the same history."""
        hist_end = hour_label(history_df["ts"]).max()
        actual = hourly_cost(holdout_df, self.prices)
        actual = actual[actual["ts"] > hist_end]
        hours = int((actual["ts"].max() - hist_end) / pd.Timedelta(hours=1))
        fc, fc_model = self._served_and_model(history_df, hours)
        fc = fc.rename(columns={"cost": "pred"}).assign(model=fc_model)
        base = seasonal_naive(history_df, hours, self.prices).rename(columns={"cost": "base"})
        j = actual.merge(fc[["ts", "module", "pred", "model"]], on=["ts", "module"]).merge(
            base[["ts", "module", "base"]], on=["ts", "module"])
        mae = float(np.mean(np.abs(j["cost"] - j["pred"])))
        base_mae = float(np.mean(np.abs(j["cost"] - j["base"])))
        team = j.groupby(["ts", "team"])[["cost", "pred", "base"]].sum()
        return {
            "mae": mae, "baseline_mae": base_mae, "mae_ratio": mae / base_mae if base_mae > 0 else float("nan"),
            "team_mae": float(np.mean(np.abs(team["cost"] - team["pred"]))),
            "team_baseline_mae": float(np.mean(np.abs(team["cost"] - team["base"]))),
            "horizon_hours": hours, "n": int(len(j)),
            "model_mae": float(np.mean(np.abs(j["cost"] - j["model"]))),  # the pooled model on every module
        }

    # -- budgets ---------------------------------------------------------------------------------
    def forecast_rest_of_month(self, history_df: pd.DataFrame, now) -> MonthForecast:
        """Month-to-date actual cost plus the forecast from the hour after the last observation to
        the end of ``now``'s month (UTC). Hours are labelled by their end, so the month's hours are
        labels in ``(month_start, month_end]``. Hours missing between the last observation and
        ``now`` are forecast too: they will be billed."""
        now = _utc(now)
        month_start = now.floor("D").replace(day=1)
        month_end = month_start + pd.offsets.MonthBegin(1)
        hist = history_df[(pd.to_datetime(history_df["ts"], utc=True) <= now).to_numpy()]
        costs = hourly_cost(hist, self.prices)
        in_month = (costs["ts"] > month_start) & (costs["ts"] <= month_end)
        mtd = costs[in_month].groupby("module")["cost"].sum()
        hours = max(int((month_end - costs["ts"].max()) / pd.Timedelta(hours=1)), 0)
        fc = self.forecast(hist, hours) if hours else _long(pd.DatetimeIndex([], tz="UTC"), [], [], np.empty((0, 0)))
        fc = fc[(fc["ts"] > month_start) & (fc["ts"] <= month_end)]
        hours = int(fc["ts"].nunique())
        per_module = costs.groupby("module")["team"].last().to_frame()
        per_module["mtd_cost"] = mtd.reindex(per_module.index).fillna(0.0)
        per_module["forecast_cost"] = fc.groupby("module")["cost"].sum().reindex(per_module.index).fillna(0.0)
        per_module["projected_cost"] = per_module["mtd_cost"] + per_module["forecast_cost"]
        per_module["forecast_by"] = self._served_by(per_module.index)
        per_module = per_module.reset_index()
        per_team = per_module.groupby("team", as_index=False)[["mtd_cost", "forecast_cost", "projected_cost"]].sum()
        return MonthForecast(now=now, month_start=month_start, month_end=month_end, hours_forecast=hours,
                             per_module=per_module, per_team=per_team)


def _long(times, modules, teams, Y) -> pd.DataFrame:
    n_t, n_m = len(times), len(modules)
    return pd.DataFrame({"ts": np.repeat(np.asarray(times), n_m) if n_t else pd.DatetimeIndex([], tz="UTC"),
                         "module": np.tile(np.asarray(modules, dtype=str), n_t),
                         "team": np.tile(np.asarray(teams, dtype=str), n_t),
                         "cost": np.asarray(Y, dtype=float).ravel()})


def seasonal_naive(history_df: pd.DataFrame, hours: int, prices=None) -> pd.DataFrame:
    """The 168-hour seasonal-naive forecast: hour h after the history repeats hour h - 168."""
    costs = hourly_cost(history_df, prices)
    times, modules, Y = cost_matrix(costs)
    teams = costs.groupby("module")["team"].last().reindex(modules).to_numpy(dtype=str)
    week = np.nan_to_num(Y[-168:], nan=0.0)
    week = np.vstack([np.zeros((168 - len(week), len(modules))), week]) if len(week) < 168 else week
    reps = np.vstack([week] * (hours // 168 + 1))[:hours]
    future = pd.date_range(times[-1] + pd.Timedelta(hours=1), periods=hours, freq="h")
    return _long(future, modules, teams, reps)


def _utc(ts) -> pd.Timestamp:
    ts = pd.Timestamp(ts)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def forecast_rest_of_month(history_df: pd.DataFrame, now, *, model: CostForecaster | None = None,
                           prices=None) -> MonthForecast:
    """Per-team and per-module cost for ``now``'s month: actual so far plus forecast for the rest.
    Fits a :class:`CostForecaster` on the history up to ``now`` when no model is given."""
    if model is None:
        seen = (pd.to_datetime(history_df["ts"], utc=True) <= _utc(now)).to_numpy()
        model = CostForecaster(prices=prices_dict(prices)).fit(history_df[seen])
    return model.forecast_rest_of_month(history_df, now)
