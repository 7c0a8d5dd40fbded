"""Training data: each module's own validated history from the telemetry store, and how it is judged.

Example::

    >>> import tempfile
    >>> import pandas as pd
    >>> from wasmops.config import Settings
    >>> from wasmops.telemetry import Store, synthesize
    >>> from models.training import plan_training, inject_anomalies
    >>> store = Store.open(Settings(home=tempfile.mkdtemp()))
    >>> end = pd.Timestamp.now("UTC").floor("h")
    >>> _ = store.append(synthesize(modules=2, days=28, end=end))                    # prod/mod-000, -001
    >>> _ = store.append(synthesize(modules=1, days=3, end=end, namespace="dev"))    # dev/mod-000: new
    >>> plan = plan_training(store.window(28 * 24 * 60), store.synthetic_series())
    >>> plan.modules, plan.cold        # trained modules; {module: why it was left out}
    (['prod/mod-000', 'prod/mod-001'], {'dev/mod-000': '3.0 days of history with traffic, fewer than the minimum 14 days'})
    >>> plan.synthetic, len(plan.holdout)                    # the last 7 days of the two modules
    (True, 336)
    >>> labelled = inject_anomalies(plan.holdout, seed=0)
    >>> int(labelled["is_anomaly"].sum())
    7

Cold start. A module (namespace/module) is trained only with at least :data:`MIN_HISTORY_DAYS`
(14) days between its first and last window with traffic, at least :data:`MIN_WINDOWS` (24)
windows with traffic before the holdout and some traffic in the holdout, and not every window
identical; the cost model also needs :data:`COST_MIN_TRAIN_DAYS` (14.5) days before the holdout
(its 336 h lag). Fewer than that and the model would judge it on nothing: the module is left out
(``plan.cold`` says why), the anomaly verdicts for it are ``hold`` (no baseline), and its releases
are judged by the statistical release judge, which holds when even it lacks samples.

Provenance. ``plan.synthetic`` is True when any trained row belongs to a series the store marks as
synthetic (``Store.synthetic_series()``); the registry tags the model ``data.synthetic`` and
refuses ``@champion`` to it unless explicitly allowed.

Evaluation. Real history has no anomaly labels, so the anomaly model is judged on the real
holdout week with anomalies injected into a few of its windows (:func:`inject_anomalies`: the
synthesizer's four kinds, at their sizes), against the champion and against a robust z baseline
(:func:`robust_z_metrics`) on the same rows. The model never trains on injected rows. These are
figures on injected faults; ``bench/ai_real.py`` measures the detectors on real labelled data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from models.features import raw_anomaly_features

MIN_HISTORY_DAYS = 14.0   #: one week to learn from and one (the holdout) to be judged on
MIN_WINDOWS = 24          #: windows with traffic before the holdout (the per-module scaler's minimum)
COST_MIN_TRAIN_DAYS = 14.5  #: the cost model's 336 h lag needs more than two weeks before the holdout
INJECT_RATE = 0.02        #: share of holdout windows with traffic that get an injected anomaly


@dataclass
class TrainingPlan:
    train: pd.DataFrame
    holdout: pd.DataFrame
    modules: list[str] = field(default_factory=list)       # ns/module trained
    cold: dict[str, str] = field(default_factory=dict)     # ns/module -> why it was left out
    synthetic: bool = False
    synthetic_series: int = 0
    real_series: int = 0
    synthetic_keys: frozenset = frozenset()                 # (namespace, module, digest) marked synthetic

    @property
    def data(self) -> pd.DataFrame:
        return pd.concat([self.train, self.holdout], ignore_index=True)

    @property
    def source(self) -> str:
        """``data.source``: where the rows came from."""
        kind = ("synthetic+real" if self.real_series else "synthetic") if self.synthetic else "real"
        return f"telemetry-store:{kind}"

    def restrict(self, min_train_days: float, why: str) -> TrainingPlan:
        """The same plan with only the modules whose history before the holdout spans
        ``min_train_days``; the others are cold with ``why``."""
        keep, cold = [], dict(self.cold)
        key = self.train["namespace"] + "/" + self.train["module"]
        for mod in self.modules:
            ts = self.train.loc[(key == mod).to_numpy(), "ts"]
            days = (ts.max() - ts.min()) / pd.Timedelta(days=1) if len(ts) else 0.0
            if days >= min_train_days:
                keep.append(mod)
            else:
                cold[mod] = f"{_days(days)} before the holdout; {why}"
        data = self.data
        return _plan(data[(data["namespace"] + "/" + data["module"]).isin(keep).to_numpy()], self.train["ts"].max(),
                     keep, cold, self.synthetic_keys)

    def without(self, why: dict[str, str]) -> TrainingPlan:
        """The same plan without the modules in ``why`` (``ns/module -> reason``): they are cold with it."""
        keep = [m for m in self.modules if m not in why]
        data = self.data
        sel = data[(data["namespace"] + "/" + data["module"]).isin(keep).to_numpy()]
        return _plan(sel, self.train["ts"].max(), keep, {**self.cold, **{m: why[m] for m in self.modules if m in why}},
                     self.synthetic_keys)

    def summary(self) -> str:
        d = self.data
        span = f"{d['ts'].min()} .. {d['ts'].max()}" if len(d) else "no rows"
        return (f"{len(d)} rows of the {len(self.modules)} module(s) with enough history ({span}); "
                f"{self.real_series} real and {self.synthetic_series} synthetic series; "
                f"{len(self.cold)} module(s) left out")

    def why_nothing(self, cold: dict[str, str] | None = None) -> str:
        """Why no module is trained, from the reasons modules were left out (``cold``: another list)."""
        return nothing_trained(self.cold if cold is None else cold)


def nothing_trained(cold: dict[str, str]) -> str:
    """``no telemetry in the history read`` or ``every module was left out (20: no traffic in the holdout window)``."""
    if not cold:
        return "no telemetry in the history read (run `wasmops telemetry collect`)"
    counts: dict[str, int] = {}
    for why in cold.values():
        counts[why] = counts.get(why, 0) + 1
    top = sorted(counts.items(), key=lambda kv: -kv[1])
    shown = "; ".join(f"{n}: {why}" for why, n in top[:3]) + ("; …" if len(top) > 3 else "")
    return f"every module was left out ({shown})"


def _days(days: float) -> str:
    """A history's length as people say it: ``20 minutes``, ``5.5 hours``, ``3.2 days``."""
    if days < 1 / 24:
        return f"{days * 24 * 60:.0f} minutes"
    return f"{days * 24:.1f} hours" if days < 1 else f"{days:.1f} days"


def _why_cold(rows: pd.DataFrame, cut: pd.Timestamp, min_days: float, min_windows: int) -> str | None:
    active = rows[rows["invocations"] > 0]
    if active.empty:
        return "no window with traffic"
    days = (active["ts"].max() - active["ts"].min()) / pd.Timedelta(days=1)
    if days < min_days:
        return f"{_days(days)} of history with traffic, fewer than the minimum {min_days:g} days"
    before = int((active["ts"] <= cut).sum())
    if before < min_windows:
        return f"{before} windows with traffic before the holdout, fewer than the minimum {min_windows}"
    if not (active["ts"] > cut).any():
        return "no traffic in the holdout window"
    feats = raw_anomaly_features(active).replace([np.inf, -np.inf], np.nan)
    if (feats.nunique(dropna=True) <= 1).all():
        return "constant history: every window has the same values, no spread to learn a baseline from"
    return None


def plan_training(df: pd.DataFrame, synthetic_series=(), *, holdout_days: float = 7,
                  min_history_days: float = MIN_HISTORY_DAYS, min_windows: int = MIN_WINDOWS) -> TrainingPlan:
    """Split the store's rows into train (up to the newest ts - ``holdout_days``) and holdout,
    keeping only the modules with enough history (see the module doc)."""
    if holdout_days <= 0:
        raise ValueError(f"holdout_days {holdout_days:g}: at least 1, the newest days a candidate is judged on")
    if df is None or df.empty:
        empty = df.iloc[0:0] if df is not None else pd.DataFrame()
        return TrainingPlan(empty, empty)
    cut = df["ts"].max() - pd.Timedelta(days=holdout_days)
    keep, cold = [], {}
    for (ns, mod), rows in df.groupby(["namespace", "module"], sort=True):
        why = _why_cold(rows, cut, min_history_days, min_windows)
        if why:
            cold[f"{ns}/{mod}"] = why
        else:
            keep.append(f"{ns}/{mod}")
    return _plan(df[(df["namespace"] + "/" + df["module"]).isin(keep)], cut, keep, cold,
                 frozenset(tuple(s) for s in synthetic_series))


def _plan(sel: pd.DataFrame, cut, keep: list[str], cold: dict, synthetic_keys: frozenset) -> TrainingPlan:
    series = set(map(tuple, sel[["namespace", "module", "digest"]].drop_duplicates().to_numpy().tolist()))
    synth = synthetic_keys & series
    return TrainingPlan(sel[sel["ts"] <= cut].reset_index(drop=True), sel[sel["ts"] > cut].reset_index(drop=True),
                        keep, cold, synthetic=bool(synth), synthetic_series=len(synth),
                        real_series=len(series) - len(synth), synthetic_keys=synthetic_keys)


def inject_anomalies(holdout: pd.DataFrame, *, rate: float = INJECT_RATE, seed: int = 0) -> pd.DataFrame:
    """A copy of ``holdout`` with ``is_anomaly``/``anomaly_kind``: about ``rate`` of the windows with
    traffic (at least one) get a fuel spike (x4-12 per call), memory blow-up (90-100 % of the limit),
    latency regression (x4-10) or error burst (20-70 % of calls). Needs two windows with traffic."""
    out = holdout.copy().reset_index(drop=True)
    active = np.flatnonzero(out["invocations"].to_numpy() > 0)
    if len(active) < 2:
        raise ValueError("the holdout needs at least two windows with traffic to be judged on")
    rng = np.random.default_rng(seed)
    hit = rng.choice(active, size=min(max(1, round(rate * len(active))), len(active) - 1), replace=False)
    kinds = rng.integers(0, 4, len(hit))
    f = rng.uniform(0, 1, len(hit))
    out["is_anomaly"], out["anomaly_kind"] = False, ""
    names = np.array(["fuel_spike", "memory_blowup", "latency_regression", "error_burst"])
    for i, k, x in zip(hit, kinds, f):
        _inject(out, int(i), int(k), float(x))
    out.loc[hit, "is_anomaly"] = True
    out.loc[hit, "anomaly_kind"] = names[kinds]
    return out


def _inject(df: pd.DataFrame, i: int, kind: int, f: float) -> None:
    if kind == 1 and df.at[i, "memory_limit"] <= 0:
        kind = 0  # no known limit: a fuel spike instead
    if kind == 0:
        df.at[i, "fuel"] = int(round(df.at[i, "fuel"] * (4 + 8 * f))) or int(df.at[i, "invocations"]) * 1000
        df.at[i, "fuel_p99_per_call"] = df.at[i, "fuel_p99_per_call"] * (4 + 8 * f)
    elif kind == 1:
        df.at[i, "peak_memory"] = max(int(df.at[i, "peak_memory"]), int(df.at[i, "memory_limit"] * (0.9 + 0.1 * f)))
        df.at[i, "memory_p99"] = float(df.at[i, "peak_memory"]) * (0.9 + 0.1 * f)
    elif kind == 2:
        for c in ("latency_p50_ms", "latency_p95_ms"):
            df.at[i, c] = max(df.at[i, c], 0.05) * (4 + 6 * f)
    else:
        df.at[i, "errors"] = max(int(df.at[i, "errors"]), int(round(df.at[i, "invocations"] * (0.2 + 0.5 * f))))


def robust_z_metrics(model, labelled: pd.DataFrame) -> dict[str, float]:
    """The baseline the anomaly model must be weighed against: the largest |robust z| of a row
    against its module's median/IQR (the model's own scaler, without the forest)."""
    y = labelled["is_anomaly"].to_numpy(dtype=bool)
    s = model.zscores(labelled).abs().max(axis=1).to_numpy()
    if not 0 < y.sum() < len(y):
        return {}
    return {"roc_auc": float(roc_auc_score(y, s)), "pr_auc": float(average_precision_score(y, s))}
