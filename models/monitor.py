"""Continuous monitoring of live modules: is a module behaving oddly *now*, against its own past?

Per module (all its versions, one series per metric): error rate, fuel per call and p95 latency of
each telemetry window. Each series goes through the production detector
(:mod:`models.detector`: seasonal, rank-based, robust to zero-inflated and heavy-tailed metrics),
fitted on the first 15 % of the module's own history, with its threshold calibrated to the target
false-alarm rate from Git (``policies/monitoring.yaml``). A module is ``anomalous`` when the
detector raised an alarm event (one per incident: the first row above the threshold after a quiet
cooldown, the same events ``bench/ai_real.py`` scores) inside the scoring window, or when a row
there is above the threshold in an incident alarmed before (``ongoing``: no new page)::

    >>> import pandas as pd
    >>> ts = pd.date_range("2026-01-01", periods=3, freq="h", tz="UTC")
    >>> df = pd.DataFrame({"ts": ts, "namespace": "dev", "module": "m", "invocations": 10, "errors": 0,
    ...                    "fuel": 100, "latency_p95_ms": 1.0})
    >>> [v.verdict for v in monitor(df, now=ts[-1], window_minutes=60)]   # 3 windows: too little history
    ['hold']

A module with less than ``min_rows`` windows of history is ``hold`` (cold start: its releases are
judged by the release judge), and so is a metric whose history is still too short for a value inside
its past range to reach the detector's threshold (:func:`history_needed`: 1,588 5-minute
windows at the default threshold of 2.90, 5.5 days; 8,000 1-minute windows at their threshold of 3.60
(the target is also per 5 minutes), 5.6 days; 363 hourly windows at the hourly threshold of 2.26) and that raised no alarm: until then only a value far
beyond all of its history can alarm, so an alarm is still evidence but its absence is not, and "ok"
would be a verdict on nothing. A module all of whose metrics are held is ``hold``. The explanation names the metric and its components (observed vs
expected, tail probability).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from models.detector import DetectorConfig, incident_start, run_series

METRICS = ("error_rate", "fuel_per_call", "latency_p95_ms")
POLICY_FILE = "policies/monitoring.yaml"
MIN_ROWS = 48


@dataclass
class MonitorVerdict:
    subject: str
    verdict: str                     # ok | anomalous | hold
    explanation: str
    metrics: dict = field(default_factory=dict)   # metric -> {score, threshold, alarm, explanation}

    def to_dict(self) -> dict:
        return {"subject": self.subject, "verdict": self.verdict, "explanation": self.explanation,
                "metrics": self.metrics}


def load_config(gitops_dir: Path | None) -> DetectorConfig:
    """``policies/monitoring.yaml`` (``spec.targetFalseAlarmRate``, ``spec.cooldown``), else defaults."""
    p = Path(gitops_dir or ".") / POLICY_FILE
    if gitops_dir is None or not p.exists():
        return DetectorConfig()
    spec = (yaml.safe_load(p.read_text()) or {}).get("spec", {})
    return DetectorConfig(target_far=float(spec.get("targetFalseAlarmRate", DetectorConfig.target_far)),
                          cooldown=str(spec.get("cooldown", DetectorConfig.cooldown)))


def module_series(df: pd.DataFrame) -> pd.DataFrame:
    """One row per window end: the module's metrics (versions pooled; windows without calls dropped)."""
    g = df.groupby("ts").agg(invocations=("invocations", "sum"), errors=("errors", "sum"), fuel=("fuel", "sum"),
                             latency_p95_ms=("latency_p95_ms", "max"))
    g = g[g["invocations"] > 0]
    return pd.DataFrame({"error_rate": g["errors"] / g["invocations"],
                         "fuel_per_call": g["fuel"] / g["invocations"],
                         "latency_p95_ms": g["latency_p95_ms"]}, index=g.index).sort_index()


def history_needed(threshold: float) -> int:
    """Windows of history before a value *inside* the past range can reach ``threshold``: the most
    extreme of n windows has a two-sided tail probability of 2/(n+1), a score of log10((n+1)/2).

    >>> history_needed(2.90), history_needed(3.60), history_needed(2.26)    # 5-minute, 1-minute and hourly defaults
    (1588, 7962, 363)
    """
    return max(0, int(np.ceil(2 * 10 ** threshold - 1)))


def _judge_metric(s: pd.Series, since: pd.Timestamp, cfg: DetectorConfig) -> dict:
    det, out = run_series(s.index, s.to_numpy(dtype=float), cfg)
    recent = np.flatnonzero(out.ts > since)
    if not len(recent):
        return {"alarm": False, "score": 0.0, "threshold": out.threshold, "explanation": "no recent window"}
    have, need = int(len(out.ts) - len(recent)), history_needed(out.threshold)
    if have < need and not out.alarm[recent].any():
        # Only a value far beyond all of its history can alarm yet: an alarm is evidence, its absence is not.
        return {"alarm": False, "hold": True, "score": float(out.score[recent].max()), "threshold": float(out.threshold),
                "history": have, "needed": need,
                "explanation": f"no alarm, but {have} windows of history are too few to call it normal: {need} are "
                               f"needed before a value inside the past range can reach the threshold {out.threshold:.2f}"}
    i = int(recent[np.argmax(out.score[recent])])
    e = det.explain(out, i)
    # an alarm event (the detector's, after its cooldown: one per incident, as bench/ai_real.py scores it)
    alarm = bool(out.alarm[recent].any())
    res = {"alarm": alarm, "score": float(out.score[i]), "threshold": float(out.threshold), "explanation": e.summary()}
    start = None if alarm else incident_start(out.above, out.alarm, i)
    if start is not None:   # above the threshold in an incident already alarmed: no new page, but not "ok"
        res.update(ongoing=True, explanation=f"{e.summary()}; the incident alarmed at {out.ts[start]} goes on "
                                             "(one alarm per incident)")
    return res


def monitor(df: pd.DataFrame, *, now, window_minutes: int = 60, config: DetectorConfig | None = None,
            min_rows: int = MIN_ROWS) -> list[MonitorVerdict]:
    """A verdict per module in ``df`` (its history plus the scoring window ending at ``now``)."""
    cfg = config or DetectorConfig()
    since = pd.Timestamp(now) - pd.Timedelta(minutes=window_minutes)
    out = []
    for (ns, mod), rows in df.groupby(["namespace", "module"]):
        series = module_series(rows)
        key = f"{ns}/{mod}"
        if len(series) < min_rows:
            out.append(MonitorVerdict(key, "hold", f"{len(series)} windows of history, at least {min_rows} "
                                                   "needed (cold start: releases are judged by the release judge)"))
            continue
        results = {m: _judge_metric(series[m].dropna(), since, cfg) for m in METRICS}
        held = [m for m, r in results.items() if r.get("hold")]
        alarms = [m for m, r in results.items() if r["alarm"] or r.get("ongoing")]
        if len(held) == len(METRICS):
            r = results[held[0]]
            out.append(MonitorVerdict(key, "hold", f"{r['history']} windows of history, at least {r['needed']} "
                                                   "needed before the detector can judge (cold start: releases are "
                                                   "judged by the release judge)", results))
        elif alarms:
            top = max(alarms, key=lambda m: results[m]["score"] - results[m]["threshold"])
            out.append(MonitorVerdict(key, "anomalous", f"{top}: {results[top]['explanation']}", results))
        else:
            also = f" ({', '.join(held)}: too little history yet)" if held else ""
            out.append(MonitorVerdict(key, "ok", "every metric within its calibrated range" + also, results))
    return out


SYNTHETIC_ONLY = ("only synthetic telemetry (`wasmops telemetry synth`) in its history: the monitor judges "
                  "real telemetry only")


def synthetic_only_holds(rows: pd.DataFrame, real: pd.DataFrame) -> list[MonitorVerdict]:
    """A ``hold`` for each module in ``rows`` with none of its rows in ``real`` (all synthetic): without
    it the monitor said nothing about them and ``score`` printed no monitor line at all."""
    def keys(df):
        return set() if df.empty else set(zip(df["namespace"], df["module"]))
    return [MonitorVerdict(f"{ns}/{mod}", "hold", SYNTHETIC_ONLY) for ns, mod in sorted(keys(rows) - keys(real))]

