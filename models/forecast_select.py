"""Forecast champion per series: rolling-origin backtests of the model and three naive forecasts.

Example::

    >>> import pandas as pd
    >>> from models.forecast_select import hourly, backtest, select_champion
    >>> ts = pd.date_range("2026-03-02T00:00Z", periods=6, freq="20min")
    >>> hourly(ts, [1, 2, 3, 4, 5, 6]).tolist()          # sub-hourly values summed per hour
    [6.0, 15.0]

A backtest refits the model at every origin (seconds on six weeks of hours), so not run here;
``y = hourly(ts, values)`` with ``ts`` spanning six weeks or more::

    >>> bt = backtest(y, horizon=168)   # one row per forecast hour, a column per candidate  # doctest: +SKIP
    >>> bt.columns.tolist()                                                                 # doctest: +SKIP
    ['timestamp', 'origin', 'actual', 'model', 'naive24', 'naive168', 'mean4w', 'champion_name', 'champion']
    >>> select_champion(bt)             # the candidate with the lowest recent MAE          # doctest: +SKIP
    'model'

Candidates: ``model`` (a HistGradientBoostingRegressor on :func:`models.features.forecast_design`,
the project forecaster's features for one series, refitted at every origin on the history before
it, recursive in 24-hour blocks), ``naive24`` (repeat the last day), ``naive168`` (repeat the last
week) and ``mean4w`` (the mean of the same hour in each of the last 4 weeks).

Backtest: origins every ``horizon`` hours over the last ``eval_fraction`` (30 %) of the series
(plus ``select_hours`` of earlier origins that only feed the first champion choices; no origin
before 4 weeks of history, ``MIN_HISTORY``); from
each origin every candidate forecasts the next ``horizon`` hours from the hours up to the origin, so
each hour is forecast once, ``horizon`` hours or less ahead. The champion at an origin is the
candidate with the lowest MAE over the previous origins' forecasts covering ``select_hours`` (data
the origin has seen), ``naive168`` before any exist: the selection never looks at the hours it is
judged on.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

from models.features import MIN_LAG, fit_ready, forecast_design
from models.threads import one_thread

CANDIDATES = ("model", "naive24", "naive168", "mean4w")
#: Hours of earlier forecasts the champion is chosen on (6 weeks), from origins with at least
#: ``MIN_HISTORY`` (4 weeks: the most any candidate reads, mean4w's four weeks) behind them. Two
#: weeks from 3 weeks on chose by noise: on Taylor's real half-hourly UK electricity demand (never
#: part of this project's data) the champion came out 1.51x seasonal-naive-168 h (1.09x at 24 h),
#: worse than naive168 alone; now 1.00x (0.90x). Over 17 real series (10 realTweets, 7 never seen
#: here) and both horizons the champion is now at most 1.00x naive168, where it was over 1.0x twice;
#: one realTweets series went from 0.84x to 0.89x (docs/decisions.md, "The forecast champion").
SELECT_HOURS = 1008
MIN_HISTORY = 4 * 168


def hourly(ts, values) -> pd.Series:
    """Values summed per hour (labelled by the hour's start) on a complete hourly grid (gaps: 0; how
    many hours had no value is in ``attrs["empty_hours"]``)."""
    s = pd.Series(np.asarray(values, dtype=float), index=pd.DatetimeIndex(pd.to_datetime(ts)))
    h = s.resample("h").sum(min_count=1)
    out = h.fillna(0.0)
    out.attrs["empty_hours"] = int(h.isna().sum())
    return out


def hourly_table(ts, values) -> pd.DataFrame:
    """Per hour (labelled by its start) on a complete grid: ``value`` (the sum of the hour's numbers,
    0 when it has none), ``rows`` (rows in the hour) and ``numbers`` (rows whose value is a number).
    ``value`` is :func:`hourly` with the gaps filled; the counts say which hours can be scored."""
    v = np.asarray(values, dtype=float)
    df = pd.DataFrame({"value": v, "rows": 1, "numbers": np.isfinite(v).astype(int)},
                      index=pd.DatetimeIndex(pd.to_datetime(ts)))
    return df.resample("h").sum()


def trim_partial_edges(h: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[str, pd.Timestamp, int, int]]]:
    """``h`` (:func:`hourly_table`) without a first or last hour that has fewer rows than most
    hours (the median of the hours with rows): a partial hour's sum is not comparable with a full
    one's. Returns the table and ``(which, hour, rows, usual)`` per hour dropped."""
    usual = int(np.median(h["rows"][h["rows"] > 0])) if (h["rows"] > 0).any() else 0
    dropped = []
    for which, pos in (("first", 0), ("last", -1)):
        if len(h) > 1 and 0 < h["rows"].iloc[pos] < usual:
            dropped.append((which, h.index[pos], int(h["rows"].iloc[pos]), usual))
            h = h.iloc[1:] if pos == 0 else h.iloc[:-1]
    return h, dropped


def _mae(forecast: np.ndarray, actual: np.ndarray) -> float:
    """Mean absolute error over the hours where both are numbers; NaN when there is none."""
    err = np.abs(np.asarray(forecast, dtype=float) - np.asarray(actual, dtype=float))
    ok = np.isfinite(err)
    return float(err[ok].mean()) if ok.any() else float("nan")


def _at(y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``y[idx]`` (rows of a 2-D ``y``: hours x series), NaN where ``idx`` is before the start."""
    ok = (idx >= 0).reshape(-1, *([1] * (y.ndim - 1)))
    return np.where(ok, y[np.clip(idx, 0, None)], np.nan)


def _naive(y: np.ndarray, origin: int, hours: np.ndarray, period: int) -> np.ndarray:
    """Repeat the last ``period`` hours up to ``origin`` (index of the last known hour). ``y``: one
    series, or hours x series."""
    lag = period * np.ceil((hours - origin) / period).astype(int)
    return _at(y, hours - lag)


def _mean4w(y: np.ndarray, origin: int, hours: np.ndarray) -> np.ndarray:
    """Mean of the same hour of the week in the last 4 known weeks (those there are)."""
    weeks = np.ceil((hours - origin) / 168).astype(int)
    cols = [_at(y, hours - 168 * (weeks + k)) for k in range(4)]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an hour none of the 4 weeks holds: NaN
        return np.nanmean(np.stack(cols), axis=0)


@one_thread
def _model(y: np.ndarray, times: pd.DatetimeIndex, origin: int, hours: np.ndarray, max_iter: int) -> np.ndarray:
    Y = y[: origin + 1, None].astype(float)
    t = np.arange(MIN_LAG, origin + 1)
    codes = np.zeros(1)
    X, level = forecast_design(Y, times[: origin + 1], t, codes)
    target = Y[t, 0] / level
    ok = np.isfinite(target)
    if ok.sum() < 168:
        return _naive(y, origin, hours, 168)
    hgb = HistGradientBoostingRegressor(loss="absolute_error", max_iter=max_iter, learning_rate=0.1,
                                        random_state=0).fit(fit_ready(X[ok]), target[ok])
    ext = times[: origin + 1].append(pd.date_range(times[origin] + pd.Timedelta(hours=1), periods=len(hours), freq="h"))
    Yx = np.vstack([Y, np.full((len(hours), 1), np.nan)])
    fallback = float(np.nanmean(Y[-168:])) if len(Y) else 0.0
    for b in range(origin + 1, origin + 1 + len(hours), MIN_LAG):
        tb = np.arange(b, min(b + MIN_LAG, origin + 1 + len(hours)))
        Xb, lv = forecast_design(Yx, ext, tb, codes)
        p = hgb.predict(Xb) * lv
        Yx[tb, 0] = np.maximum(np.where(np.isfinite(p), p, fallback), 0.0)
    return Yx[origin + 1:, 0]


def backtest(y: pd.Series, horizon: int = 168, eval_fraction: float = 0.3, select_hours: int = SELECT_HOURS,
             max_iter: int = 100, progress=None, observed=None) -> pd.DataFrame:
    """Rolling-origin backtest: per forecast hour the actual, every candidate, and the champion.
    Origins start ``select_hours`` before the evaluated part (those forecasts only feed the first
    champion choices and are not returned). ``progress(n)``, when given, is called after each origin.
    ``observed`` (bool per hour of ``y``): hours that are False (no number in them: ``y`` holds a
    stand-in 0) are forecast from but not scored, neither in the champion choice nor in ``actual``
    (NaN there)."""
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 hour, not {horizon}")
    v = y.to_numpy(dtype=float)
    target = v if observed is None else np.where(np.asarray(observed, dtype=bool), v, np.nan)
    times = pd.DatetimeIndex(y.index)
    start, origins = _origins(len(v), horizon, eval_fraction, select_hours)
    select_origins = max(1, -(-select_hours // horizon))
    rows, errs = [], []  # errs: per origin, MAE per candidate
    for origin in origins:
        hours = np.arange(origin + 1, min(origin + 1 + horizon, len(v)))
        fc = {"model": _model(v, times, origin, hours, max_iter),
              "naive24": _naive(v, origin, hours, 24), "naive168": _naive(v, origin, hours, 168),
              "mean4w": _mean4w(v, origin, hours)}
        champ = _pick(errs[-select_origins:])
        rows.append(pd.DataFrame({"timestamp": times[hours], "origin": times[origin], "actual": target[hours],
                                  **fc, "champion_name": champ, "champion": fc[champ]}))
        errs.append({k: _mae(fc[k], target[hours]) for k in CANDIDATES})
        if progress is not None:
            progress(len(errs))
    rows = [r for r in rows if r["timestamp"].iloc[0] >= times[start]]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["timestamp", "origin", "actual", *CANDIDATES, "champion_name", "champion"])


def _origins(n: int, horizon: int, eval_fraction: float, select_hours: int) -> tuple[int, range]:
    """(first evaluated hour, the origins) of a backtest over ``n`` hours."""
    start = max(int(n * (1.0 - eval_fraction)), 2 * 168)
    first = start - max(1, -(-select_hours // horizon)) * horizon
    while first < MIN_HISTORY:
        first += horizon
    return start, range(first - 1, n - 1, horizon)


def origin_count(n: int, horizon: int, eval_fraction: float = 0.3, select_hours: int = SELECT_HOURS) -> int:
    """How many origins (model fits) :func:`backtest` makes over ``n`` hours: for progress lines."""
    return len(_origins(n, horizon, eval_fraction, select_hours)[1])


def _pick(history: list[dict]) -> str:
    if not history:
        return "naive168"
    mae = {k: _mean([h[k] for h in history]) for k in CANDIDATES}
    mae = {k: m for k, m in mae.items() if np.isfinite(m)}
    return min(mae, key=mae.get) if mae else "naive168"


def _mean(x: list[float]) -> float:
    a = np.asarray(x, dtype=float)
    return float(a[np.isfinite(a)].mean()) if np.isfinite(a).any() else float("nan")


def select_champion(bt: pd.DataFrame, last: int | None = None) -> str:
    """The candidate with the lowest MAE over a backtest (its last ``last`` rows): the champion
    to deploy after it."""
    d = bt if last is None else bt.tail(last)
    mae = {k: float(np.nanmean(np.abs(d[k] - d["actual"]))) for k in CANDIDATES}
    return min(mae, key=mae.get)


def maes(bt: pd.DataFrame) -> dict:
    """MAE of each candidate and the champion over the hours with an actual."""
    return {k: _mae(bt[k], bt["actual"]) for k in (*CANDIDATES, "champion")}


def mae_ratios(bt: pd.DataFrame) -> dict:
    """MAE of each candidate and the champion, relative to naive168's (NaN when that is 0)."""
    m = maes(bt)
    base = m["naive168"]
    return {k: v / base if base > 0 else float("nan") for k, v in m.items()}
