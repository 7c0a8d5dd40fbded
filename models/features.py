"""Features for the anomaly model and the cost forecaster, computed from telemetry rows.

Telemetry rows are hourly windows per module (see ``wasmops.telemetry``). Example::

    >>> import pandas as pd
    >>> df = pd.DataFrame({"module": ["a", "a"], "fuel": [2e6, 4e6], "invocations": [1, 2],
    ...                    "peak_memory": [1 << 20] * 2, "latency_p95_ms": [3.0, 3.5],
    ...                    "errors": [0, 1], "memory_limit": [1 << 30] * 2, "replicas": [1, 1],
    ...                    "window_s": [3600, 3600]})
    >>> raw_anomaly_features(df)["fuel_per_call"].tolist()
    [2000000.0, 2000000.0]
    >>> round(float(row_cost(df).iloc[0]), 6)  # 2e6 fuel + 1 GiB-hour + 1 call
    0.0058
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

GIB = float(1 << 30)

#: Anomaly features, in the order the model sees them.
ANOMALY_FEATURES = ("fuel_per_call", "peak_memory", "latency_p95_ms", "error_rate")

#: Smallest robust scale per feature in model space. Log features: a module whose metric never
#: moves in training must not turn a 1 % wobble into a 100-sigma event. Error rate: its model
#: space is already in binomial standard deviations, so the floor is 1.
MIN_SCALE = {"fuel_per_call": 0.05, "peak_memory": 0.05, "latency_p95_ms": 0.05, "error_rate": 1.0}
#: Features compared as counts (errors out of invocations) rather than on a log scale.
RATE_FEATURES = frozenset({"error_rate"})


# ----------------------------------------------------------------------------------------------
# Cost of a row

@dataclass(frozen=True)
class Prices:
    """Default list prices (USD). The FinOps module owns the real price sheet."""

    fuel_per_million: float = 0.0004
    memory_gib_hour: float = 0.005
    invocations_per_million: float = 0.20


def _price(prices, name: str) -> float:
    if prices is None:
        return getattr(Prices(), name)
    if isinstance(prices, Mapping):
        return float(prices.get(name, getattr(Prices(), name)))
    return float(getattr(prices, name))


def row_cost(df: pd.DataFrame, prices=None) -> pd.Series:
    """Cost in USD of each telemetry row: fuel + reserved memory (limit x replicas x window) + calls.

    ``prices`` is a :class:`Prices`, any object with the same attributes, a mapping, or None for the
    defaults.
    """
    fuel = df["fuel"].to_numpy(dtype=float) / 1e6 * _price(prices, "fuel_per_million")
    gib_h = (df["memory_limit"].to_numpy(dtype=float) * df["replicas"].to_numpy(dtype=float)
             * df["window_s"].to_numpy(dtype=float) / GIB / 3600.0)
    mem = gib_h * _price(prices, "memory_gib_hour")
    calls = df["invocations"].to_numpy(dtype=float) / 1e6 * _price(prices, "invocations_per_million")
    return pd.Series(fuel + mem + calls, index=df.index, name="cost")


# ----------------------------------------------------------------------------------------------
# Anomaly features

def raw_anomaly_features(df: pd.DataFrame) -> pd.DataFrame:
    """Per-row anomaly features in their natural units (fuel/call, bytes, ms, fraction)."""
    inv = df["invocations"].to_numpy(dtype=float)
    calls = np.where(inv > 0, inv, np.nan)
    fpc = df["fuel"].to_numpy(dtype=float) / calls
    mem_col = "peak_memory" if "peak_memory" in df else "memory_p99"
    idle = ~(inv > 0)  # no calls: the scraper sees no quantiles and no memory; not a zero reading
    mem = np.where(idle, np.nan, df[mem_col].to_numpy(dtype=float))
    lat = np.where(idle, np.nan, df["latency_p95_ms"].to_numpy(dtype=float))
    return pd.DataFrame({
        "fuel_per_call": fpc,
        "peak_memory": np.where(mem > 0, mem, np.nan),
        "latency_p95_ms": np.where(lat > 0, lat, np.nan),
        "error_rate": df["errors"].to_numpy(dtype=float) / calls,
    }, index=df.index)


def _to_model_space(raw: np.ndarray, names) -> np.ndarray:
    """Log for positive, skewed metrics; arcsine-sqrt (variance-stabilising) for rates."""
    out = np.empty_like(raw, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        for j, name in enumerate(names):
            col = raw[:, j]
            out[:, j] = (np.arcsin(np.sqrt(np.clip(col, 0.0, 1.0))) if name in RATE_FEATURES
                         else np.log(np.maximum(col, 1e-9)))
    return out


def _from_model_space(val: np.ndarray, names) -> np.ndarray:
    val = np.asarray(val, dtype=float)
    return np.array([np.sin(v) ** 2 if n in RATE_FEATURES else np.exp(v) for v, n in zip(val, names)])


class RobustModuleScaler(TransformerMixin, BaseEstimator):
    """Per-module robust z-scores, fitted on training data and kept with the model.

    Log features (fuel/call, memory, latency): ``z = (log x - median_module) / (IQR_module/1.349)``.
    Error rate is a count out of ``invocations``, so a 1-in-20 hour is not a 1-in-20000 hour: it is
    compared with the module's pooled training rate p0 in binomial units,
    ``u = 2 sqrt(n) (asin sqrt(rate) - asin sqrt(p0))``, then divided by the robust scale of ``u``
    in training (>= 1, absorbing overdispersion).

    New data is scored against the training baseline. Modules with fewer than ``min_rows``
    training rows, and modules never seen in training, use the global statistics;
    ``per_module=False`` uses global statistics for all. A feature that cannot be computed (no
    invocations in the window) scores z = 0.
    """

    def __init__(self, features=ANOMALY_FEATURES, per_module: bool = True, min_rows: int = 24,
                 clip: float = 50.0):
        self.features = features
        self.per_module = per_module
        self.min_rows = min_rows
        self.clip = clip

    def _space(self, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(model-space values, per-row weights): weight 2 sqrt(invocations) for rates, else 1."""
        names = list(self.features)
        x = _to_model_space(raw_anomaly_features(df)[names].to_numpy(), names)
        w = np.ones_like(x)
        rate = [j for j, n in enumerate(names) if n in RATE_FEATURES]
        if rate:
            w[:, rate] = 2.0 * np.sqrt(np.maximum(df["invocations"].to_numpy(dtype=float), 0.0))[:, None]
        return x, w

    @staticmethod
    def _centers(x: pd.DataFrame, df: pd.DataFrame, names, by=None) -> pd.DataFrame:
        """Medians of log features; pooled rates (sum errors / sum invocations) for rates."""
        g = x.groupby(by, sort=True) if by is not None else None
        med = g.median() if g is not None else x.median().to_frame().T
        for n in names:
            if n in RATE_FEATURES:
                cnt = pd.DataFrame({"e": df["errors"].to_numpy(float), "n": df["invocations"].to_numpy(float)})
                tot = cnt.groupby(by, sort=True).sum() if by is not None else cnt.sum().to_frame().T
                p0 = (tot["e"] / tot["n"].where(tot["n"] > 0)).clip(0, 1).to_numpy()
                med[n] = np.arcsin(np.sqrt(p0))
        return med[names]

    def _scales(self, u: pd.DataFrame, names, by=None) -> np.ndarray:
        """IQR/1.349 of the centred values u, floored per feature."""
        floor = np.array([MIN_SCALE.get(n, 0.05) for n in names])
        if by is not None:
            q = u.groupby(by, sort=True).quantile([0.25, 0.75])
            hi, lo = q.xs(0.75, level=-1).to_numpy(dtype=float), q.xs(0.25, level=-1).to_numpy(dtype=float)
        else:
            q = u.quantile([0.25, 0.75]).to_numpy(dtype=float)
            hi, lo = q[1:2], q[0:1]
        iqr = (hi - lo) / 1.349
        return np.maximum(np.nan_to_num(iqr, nan=0.0), floor)

    def fit(self, df: pd.DataFrame, y=None):
        names = list(self.features)
        x, w = self._space(df)
        xs = pd.DataFrame(x, columns=names)
        gc = self._centers(xs, df, names).to_numpy(dtype=float)[0]
        self.global_center_ = np.where(np.isfinite(gc), gc, 0.0)
        self.global_scale_ = self._scales(pd.DataFrame(w * (x - self.global_center_), columns=names), names)[0]
        self.modules_ = np.asarray([], dtype=str)
        self.center_ = np.empty((0, len(names)))
        self.scale_ = np.empty((0, len(names)))
        if self.per_module:
            mods = module_key(df)
            counts = pd.Series(mods).value_counts()
            keep = np.sort(np.asarray(counts[counts >= self.min_rows].index, dtype=str))
            sel = np.isin(mods, keep)
            if sel.any():
                by = mods[sel]
                center = self._centers(xs[sel], df[sel], names, by=by).loc[keep].to_numpy(dtype=float)
                center = np.where(np.isfinite(center), center, self.global_center_)
                codes = np.searchsorted(keep, by)
                u = pd.DataFrame(w[sel] * (x[sel] - center[codes]), columns=names)
                self.modules_, self.center_ = keep, np.array(center)
                self.scale_ = self._scales(u, names, by=by)
        self.n_features_out_ = len(names)
        return self

    def own_keys(self, keys) -> np.ndarray:
        """``namespace/module`` keys as this model's baselines name them. A model trained before
        baselines were keyed by namespace (2026-12-06, 844a376) named them by module alone: its
        baselines are found by the module's name (as that model itself did), not lost."""
        keys = np.asarray(keys, dtype=str)
        if len(self.modules_) and not any("/" in str(m) for m in self.modules_):
            return np.asarray([k.split("/", 1)[-1] for k in keys], dtype=str)
        return keys

    def knows(self, keys) -> np.ndarray:
        """Which ``namespace/module`` keys have a baseline of their own."""
        return np.isin(self.own_keys(keys), np.asarray(self.modules_, dtype=str))

    def baseline(self, modules) -> tuple[np.ndarray, np.ndarray]:
        """(center, scale) rows in model space for each module; unseen modules get the global row."""
        codes = pd.Index(self.modules_).get_indexer(self.own_keys(modules))
        center = np.vstack([self.center_, self.global_center_])[codes]  # code -1 → last (global) row
        scale = np.vstack([self.scale_, self.global_scale_])[codes]
        return center, scale

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        center, scale = self.baseline(module_key(df))
        x, w = self._space(df)
        z = w * (x - center) / scale
        z = np.nan_to_num(z, nan=0.0, posinf=self.clip, neginf=-self.clip)
        return np.clip(z, -self.clip, self.clip)

    def get_feature_names_out(self, input_features=None):
        return np.asarray(self.features, dtype=object)


def module_key(df: pd.DataFrame) -> np.ndarray:
    """What a per-module baseline is keyed by: ``namespace/module`` (one name in dev and in prod is two
    modules, with their own digests and traffic), or the module name in a frame without namespaces."""
    mods = df["module"].astype(str)
    if "namespace" in df:
        return (df["namespace"].astype(str) + "/" + mods).to_numpy()
    return mods.to_numpy()


def baseline_values(scaler: RobustModuleScaler, modules) -> np.ndarray:
    """Module baselines (training medians) in natural units, one row per module."""
    center, _ = scaler.baseline(modules)
    return np.vstack([_from_model_space(c, scaler.features) for c in center])


# ----------------------------------------------------------------------------------------------
# Forecast features

FORECAST_FEATURES = ("hour", "weekday", "module", "lag24", "lag168", "lag336", "roll24", "roll168",
                     "same_hour_7d", "same_hour_2w")
MIN_LAG = 24  # the shortest lag: a block of 24 future hours can be predicted at once


def hour_label(ts) -> pd.Series:
    """The hour a sample belongs to, labelled by its end like the samples themselves: ``ts`` ends
    the window ``(ts - window_s, ts]``, so 10:00:00 → 10:00 and 10:00:01 → 11:00."""
    return pd.to_datetime(pd.Series(ts), utc=True).dt.ceil("h")


def prices_dict(prices) -> dict | None:
    """A plain dict of the three prices (from a mapping, a :class:`Prices`-like object, or None)."""
    if prices is None:
        return None
    return {name: _price(prices, name) for name in Prices.__dataclass_fields__}


def hourly_cost(df: pd.DataFrame, prices=None) -> pd.DataFrame:
    """Hourly cost per module: columns ts (hour label = its end, UTC), module, team, cost."""
    d = pd.DataFrame({"ts": hour_label(df["ts"]).to_numpy(),
                      "module": df["module"].astype(str), "team": df["team"].astype(str),
                      "cost": row_cost(df, prices).to_numpy()})
    out = d.groupby(["ts", "module"], sort=True).agg(cost=("cost", "sum"), team=("team", "last"))
    return out.reset_index()[["ts", "module", "team", "cost"]]


def cost_matrix(costs: pd.DataFrame, modules=None) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """Pivot hourly costs to a (hours x modules) array on a complete hourly grid (gaps are NaN)."""
    wide = costs.pivot_table(index="ts", columns="module", values="cost", aggfunc="sum")
    if modules is not None:
        wide = wide.reindex(columns=list(modules))
    grid = pd.date_range(wide.index.min(), wide.index.max(), freq="h")
    wide = wide.reindex(grid)
    return grid, np.asarray(wide.columns, dtype=str), wide.to_numpy(dtype=float)


def _window_mean(Y: np.ndarray, t: np.ndarray, end_lag: int, width: int) -> np.ndarray:
    """Mean of Y[t-end_lag-width+1 .. t-end_lag] per module, NaN-aware (via cumulative sums)."""
    ok = np.isfinite(Y)
    cs = np.vstack([np.zeros((1, Y.shape[1])), np.cumsum(np.where(ok, Y, 0.0), axis=0)])
    cn = np.vstack([np.zeros((1, Y.shape[1])), np.cumsum(ok, axis=0)])
    hi = np.clip(t - end_lag + 1, 0, len(Y))
    lo = np.clip(t - end_lag - width + 1, 0, len(Y))
    n = cn[hi] - cn[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (cs[hi] - cs[lo]) / np.maximum(n, 1), np.nan)


def _lag(Y: np.ndarray, t: np.ndarray, k: int) -> np.ndarray:
    idx = t - k
    out = np.full((len(t), Y.shape[1]), np.nan)
    ok = (idx >= 0) & (idx < len(Y))
    out[ok] = Y[idx[ok]]
    return out


def _nanmean(arrays: list[np.ndarray]) -> np.ndarray:
    a = np.stack(arrays)
    n = np.isfinite(a).sum(axis=0)
    return np.where(n > 0, np.nansum(a, axis=0) / np.maximum(n, 1), np.nan)


def forecast_design(Y: np.ndarray, times: pd.DatetimeIndex, t: np.ndarray,
                    module_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Feature matrix for hours ``t`` (indices into ``Y``/``times``) x all modules, row-major.

    Values at or after ``t - 23`` are never read, so Y may hold predictions up to ``t - 24``.
    Returns (X, level): cost-valued features are divided by the module's level (mean of the 168
    hours ending at lag 24), and the model predicts cost / level, so one model fits modules whose
    costs differ by orders of magnitude.
    """
    n_t, n_m = len(t), Y.shape[1]
    roll168 = _window_mean(Y, t, MIN_LAG, 168)
    level = np.where(np.isfinite(roll168) & (roll168 > 0), roll168, np.nan)
    cols = {
        "hour": np.repeat(times.hour.to_numpy()[t], n_m).reshape(n_t, n_m),
        "weekday": np.repeat(times.day_of_week.to_numpy()[t], n_m).reshape(n_t, n_m),
        "module": np.broadcast_to(module_codes, (n_t, n_m)),
        "lag24": _lag(Y, t, 24) / level,
        "lag168": _lag(Y, t, 168) / level,
        "lag336": _lag(Y, t, 336) / level,
        "roll24": _window_mean(Y, t, MIN_LAG, 24) / level,
        "roll168": np.log(level),
        # low-noise seasonal profiles: the same hour on each of the last 7 days, and in the last 2 weeks
        "same_hour_7d": _nanmean([_lag(Y, t, 24 * k) for k in range(1, 8)]) / level,
        "same_hour_2w": _nanmean([_lag(Y, t, 168), _lag(Y, t, 336)]) / level,
    }
    X = np.stack([np.asarray(cols[f], dtype=float).ravel() for f in FORECAST_FEATURES], axis=1)
    return X, level.ravel()


def fit_ready(X: np.ndarray) -> np.ndarray:
    """``X`` (training rows) with every column that holds no number set to 0. HistGradientBoosting
    cannot bin an all-NaN column (sklearn raises ``window shape cannot be larger than input array
    shape``); a history shorter than 336 usable hours, or one broken by a long gap, leaves ``lag336``
    all NaN. A constant column is never split on, so the fitted trees ignore it at prediction: the
    model is the one it would be without that feature."""
    X = np.array(X, dtype=float, copy=True)
    X[:, ~np.isfinite(X).any(axis=0)] = 0.0
    return X
