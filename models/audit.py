"""Bias audit of the anomaly model: is one team flagged more often than the others?

Example::

    >>> import pandas as pd
    >>> from models.audit import bias_audit
    >>> labelled_df = pd.DataFrame({"team": ["core"] * 100 + ["data"] * 100 + ["search"] * 100,
    ...                             "is_anomaly": ([True] * 5 + [False] * 95) * 3})
    >>> false_alarms = {"core": 2, "data": 2, "search": 12}       # on the 95 normal rows of each team
    >>> alerts = [a or 0 <= i - 5 < false_alarms[t]
    ...           for t, a, i in zip(labelled_df.team, labelled_df.is_anomaly, list(range(100)) * 3)]
    >>> result = bias_audit(labelled_df, alerts)   # or model=anomaly_model: alerts = model.predict(df)
    >>> result.flagged
    ['search']
    >>> print(result.table[["team", "fpr", "flag"]].round(3).to_string(index=False))   # one row per team
      team   fpr  flag
      core 0.021 False
      data 0.021 False
    search 0.126  True
    >>> result.flags["search"]
    'false-positive rate 12.63% is 2.2x the overall 5.61% (limit 2x); false-positive rate 12.63% differs from the overall 5.61% by 7.0 points (limit 5)'

Per group (team by default): rows, labelled anomalies, false positives among normal rows and the
false-positive rate (FPR), alerts and the alert rate, recall. A group is flagged when its FPR is
more than ``ratio`` times the overall FPR, or differs from it by more than ``max_diff_points``
percentage points, and it has at least ``min_negatives`` normal rows (fewer are reported, not
flagged). Without labels only alert rates are compared, by the same rules, and the table has no
FPR or recall (``labelled`` is False): an alert rate says nothing of fairness by itself.
:func:`without_baseline` leaves out the rows of modules the model has no baseline for, with a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class AuditResult:
    table: pd.DataFrame            # one row per group, with a `flag` column and a `reason`
    overall_fpr: float
    overall_alert_rate: float
    ratio: float
    max_diff_points: float
    group: str
    flags: dict[str, str] = field(default_factory=dict)   # group → reason
    labelled: bool = True          # without labels: no FPR, no recall, and no fairness conclusion

    @property
    def flagged(self) -> list[str]:
        return sorted(self.flags)

    @property
    def ok(self) -> bool:
        return not self.flags

    def to_dict(self) -> dict:
        return {"group": self.group, "labelled": self.labelled, "overall_fpr": self.overall_fpr,
                "overall_alert_rate": self.overall_alert_rate, "ratio": self.ratio,
                "max_diff_points": self.max_diff_points, "flags": dict(self.flags),
                "table": self.table.to_dict(orient="records")}


def _judge(rate: float, overall: float, ratio: float, max_diff_points: float, what: str) -> str | None:
    reasons = []
    if overall > 0 and rate > ratio * overall:
        reasons.append(f"{what} {rate:.2%} is {rate / overall:.1f}x the overall {overall:.2%} (limit {ratio:g}x)")
    if abs(rate - overall) * 100 > max_diff_points:
        reasons.append(f"{what} {rate:.2%} differs from the overall {overall:.2%} by "
                       f"{abs(rate - overall) * 100:.1f} points (limit {max_diff_points:g})")
    return "; ".join(reasons) or None


def bias_audit(df: pd.DataFrame, flagged=None, *, model=None, group: str = "team",
               label: str = "is_anomaly", ratio: float = 2.0, max_diff_points: float = 5.0,
               min_negatives: int = 50) -> AuditResult:
    """Audit alerts per ``group``. Alerts come from ``flagged`` (bool per row) or ``model.predict``.

    With a ``label`` column: FPR per group vs. the overall FPR. Without: alert rate per group vs.
    the overall alert rate.
    """
    if flagged is None:
        if model is None:
            raise ValueError("give the alerts (flagged=...) or the model that makes them (model=...)")
        flagged = model.predict(df)
    alert = np.asarray(flagged, dtype=bool)
    labelled = label in df.columns
    y = df[label].to_numpy(dtype=bool) if labelled else np.zeros(len(df), dtype=bool)
    d = pd.DataFrame({"g": df[group].astype(str).to_numpy(), "alert": alert, "y": y,
                      "fp": alert & ~y, "neg": ~y, "tp": alert & y})
    t = d.groupby("g", sort=True).agg(rows=("alert", "size"), anomalies=("y", "sum"),
                                      negatives=("neg", "sum"), false_positives=("fp", "sum"),
                                      alerts=("alert", "sum"), true_positives=("tp", "sum"))
    t["fpr"] = t["false_positives"] / t["negatives"].where(t["negatives"] > 0)
    t["alert_rate"] = t["alerts"] / t["rows"]
    t["recall"] = t["true_positives"] / t["anomalies"].where(t["anomalies"] > 0)
    overall_fpr = float(d["fp"].sum() / max(int(d["neg"].sum()), 1))
    overall_alert = float(alert.mean()) if len(alert) else 0.0
    metric, overall = ("fpr", overall_fpr) if labelled else ("alert_rate", overall_alert)
    t["fpr_ratio"] = t["fpr"] / overall_fpr if overall_fpr > 0 else np.nan
    t["alert_ratio"] = t["alert_rate"] / overall_alert if overall_alert > 0 else np.nan
    flags: dict[str, str] = {}
    reasons = []
    for g, row in t.iterrows():
        why = None
        if row["negatives"] >= min_negatives and pd.notna(row[metric]):
            why = _judge(float(row[metric]), overall, ratio, max_diff_points,
                         "false-positive rate" if labelled else "alert rate")
        if why:
            flags[str(g)] = why
        reasons.append(why or "")
    t["flag"] = [bool(r) for r in reasons]
    t["reason"] = reasons
    t = t.reset_index().rename(columns={"g": group})
    if not labelled:                # every alert would read as a false positive: show what is measured
        t = t[[group, "rows", "alerts", "alert_rate", "alert_ratio", "flag", "reason"]]
    return AuditResult(table=t, overall_fpr=overall_fpr, overall_alert_rate=overall_alert, ratio=ratio,
                       max_diff_points=max_diff_points, group=group, flags=flags, labelled=labelled)


def without_baseline(df: pd.DataFrame, model, group: str = "team") -> tuple[pd.DataFrame, list[str]]:
    """The rows of modules the model has a baseline for, and one note per group with rows left out
    (a module without a baseline is held by the score flow, never alerted on: its rows say nothing)."""
    from models.features import module_key

    known = getattr(getattr(model, "scaler_", None), "modules_", None)
    if known is None or df.empty:
        return df, []
    keys = module_key(df)
    scaler = model.scaler_
    keep = scaler.knows(keys) if hasattr(scaler, "knows") else np.isin(keys, np.asarray(list(map(str, known))))
    notes = []
    for g, rows in df[~keep].assign(_key=keys[~keep]).groupby(group, sort=True):
        mods = sorted(set(rows["_key"]))
        whole = "all its rows" if not (df.loc[keep, group].astype(str) == str(g)).any() else f"{len(rows)} rows"
        notes.append(f"{group} {g}: {whole} ({len(rows)}) left out: the model has no baseline for "
                     f"{', '.join(mods[:5])}{' …' if len(mods) > 5 else ''} (too little history at training)")
    return df[keep], notes
