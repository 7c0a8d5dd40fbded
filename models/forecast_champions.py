"""Which forecast serves each module: the cost model, or a naive forecast that backtests better.

The production cost model (:class:`models.forecast.CostForecaster`) forecasts every module with one
pooled model. On some modules a naive forecast is better (a strictly weekly series: repeat the last
week; pure noise around a level: the mean of the last weeks). So, as ``wasmops models
backtest-forecast`` does for one series, each module gets the candidate with the lowest MAE on its
own history: ``model``, ``naive24`` (repeat the last day), ``naive168`` (repeat the last week) or
``mean4w`` (the mean of the same hour in the last 4 weeks, or those there are).

Example, a module whose cost repeats every week exactly and one that is noise around a level::

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> week = rng.uniform(1, 5, 168)
    >>> Y = np.column_stack([np.tile(week, 5), 3 + rng.normal(0, 1, 840)])   # 5 weeks x 2 modules
    >>> model = lambda origin, hours: np.full((hours, 2), 3.0)               # a stand-in model
    >>> sel = select(Y, model)
    >>> sel.champions, sel.origins
    (['naive168', 'model'], 3)
    >>> forecasts(Y, 2)["naive168"][:, 0].round(3).tolist() == week[:2].round(3).tolist()
    True

Backtest: origins (the last hour known) every :data:`HORIZON` hours, ending one horizon before the
history does, each with at least :data:`MIN_HISTORY` hours behind it (the model's longest lag, 336 h),
at most :data:`SELECT_ORIGINS` of them (six weeks of forecasts, as the backtest CLI chooses on). At
each origin the model is refitted on the hours up to it (``fit_forecast``) and every candidate
forecasts the next week; a module's champion is the candidate with the lowest mean MAE over the
origins, where a naive one must beat the model's by :data:`SWITCH_MARGIN` (10 %). With no origin
(less than three weeks of history) every module keeps ``model``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from models.forecast_select import CANDIDATES, _mean4w, _naive

HORIZON = 168        #: hours forecast from each origin: one week
MIN_HISTORY = 336    #: hours behind an origin: the model's longest lag (lag336)
SELECT_ORIGINS = 6   #: at most six weeks of forecasts (``models.forecast_select.SELECT_HOURS``)
#: How much lower a naive forecast's backtest MAE must be than the model's for it to serve instead:
#: one to six weeks of forecasts choose by noise where the two are close. Measured with
#: bench/cost_real.py on 17 real series (10 realTweets, 7 from outside NAB): mean served / naive168
#: 0.699 with no margin, 0.684 with 10 % (worst 1.00 both; the model alone 1.126, worst 8.07);
#: docs/decisions.md, "The cost model's champion per module".
SWITCH_MARGIN = 0.10

#: ``fit_forecast(origin, hours)``: the model refitted on hours ``0..origin``, forecasting the
#: ``hours`` after it (an hours x modules array).
FitForecast = Callable[[int, int], np.ndarray]


@dataclass
class Selection:
    """Per module (in the order of the matrix's columns): the champion and each candidate's MAE."""

    champions: list[str]
    mae: list[dict[str, float]] = field(default_factory=list)
    origins: int = 0


def forecasts(Y: np.ndarray, hours: int) -> dict[str, np.ndarray]:
    """The naive candidates' forecasts (``hours`` x modules) after the last row of ``Y``. An hour a
    candidate has no number for (a gap in the history) gets the module's mean over the last week."""
    origin = len(Y) - 1
    ahead = np.arange(origin + 1, origin + 1 + hours)
    fallback = last_week_mean(Y)
    out = {"naive24": _naive(Y, origin, ahead, 24), "naive168": _naive(Y, origin, ahead, 168),
           "mean4w": _mean4w(Y, origin, ahead)}
    return {k: np.where(np.isfinite(v), v, fallback) for k, v in out.items()}


def last_week_mean(Y: np.ndarray) -> np.ndarray:
    """Each module's mean over the last 168 rows of ``Y`` (0 for one with no number there): what a
    forecast falls back on for an hour it has nothing for."""
    if not len(Y):
        return np.zeros(Y.shape[1])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # a module with no number in the last week: 0
        return np.nan_to_num(np.nanmean(Y[-168:], axis=0), nan=0.0)


def origins(n_hours: int, horizon: int = HORIZON, min_history: int | None = None,
            most: int = SELECT_ORIGINS) -> list[int]:
    """The backtest origins (index of the last hour known) in ``n_hours`` of history, oldest first."""
    min_history = MIN_HISTORY if min_history is None else min_history
    last = n_hours - 1 - horizon
    found = list(range(last, min_history - 2, -horizon))[:most]
    return sorted(o for o in found if o + 1 >= min_history)


def select(Y: np.ndarray, fit_forecast: FitForecast, *, most: int = SELECT_ORIGINS) -> Selection:
    """The champion of each module (column of ``Y``, hours x modules, NaN where unknown)."""
    starts = origins(len(Y), most=most)
    n = Y.shape[1]
    if not starts:
        return Selection(champions=["model"] * n, mae=[{} for _ in range(n)], origins=0)
    errs = {k: [] for k in CANDIDATES}  # per candidate: origins x modules
    for o in starts:
        actual = Y[o + 1: o + 1 + HORIZON]
        fc = {"model": np.asarray(fit_forecast(o, len(actual)), dtype=float), **forecasts(Y[: o + 1], len(actual))}
        for k in CANDIDATES:
            errs[k].append(_column_mean(np.abs(fc[k] - actual)))   # MAE per module over the hours with an actual
    mae = {k: _column_mean(np.vstack(v)) for k, v in errs.items()}
    table = [{k: float(mae[k][j]) for k in CANDIDATES} for j in range(n)]
    return Selection(champions=[_best(row) for row in table], mae=table, origins=len(starts))


def _column_mean(a: np.ndarray) -> np.ndarray:
    """Per column: the mean of its numbers (NaN when it has none)."""
    ok = np.isfinite(a)
    with np.errstate(all="ignore"):
        return np.where(ok.any(axis=0), np.where(ok, a, 0.0).sum(axis=0) / ok.sum(axis=0), np.nan)


def _best(row: dict[str, float]) -> str:
    """The candidate with the lowest MAE; ``model`` on a tie with it, when nothing was scored, or
    when no naive forecast is :data:`SWITCH_MARGIN` better than it."""
    scored = {k: v for k, v in row.items() if np.isfinite(v)}
    if not scored:
        return "model"
    best = min(scored, key=scored.get)
    model = scored.get("model")
    if model is None or best == "model":
        return best
    return best if scored[best] < model * (1.0 - SWITCH_MARGIN) else "model"


def compose(model_fc: np.ndarray, Y: np.ndarray, champions: list[str]) -> np.ndarray:
    """The served forecast: per module (column) its champion's forecast after the last row of ``Y``."""
    if all(c == "model" for c in champions):
        return model_fc
    naive = forecasts(Y, len(model_fc))
    out = model_fc.copy()
    for j, c in enumerate(champions):
        if c != "model":
            out[:, j] = naive[c][:, j]
    return out


def counts(champions) -> str:
    """``model 20, mean4w 3, naive168 2``: how many modules each candidate serves."""
    tally: dict[str, int] = {}
    for c in champions:
        tally[c] = tally.get(c, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(tally.items(), key=lambda kv: (-kv[1], kv[0])))
