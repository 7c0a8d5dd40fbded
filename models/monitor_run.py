"""The score flow's monitor step, without Prefect: which modules, on which history, with which notes.

``tasks.telemetry.monitor_and_record`` reads the store, calls :func:`monitor_verdicts` and records
each verdict. Here:

- a module whose rows in the scoring window failed GX is ``hold`` naming them, and its history is
  not judged (:func:`not_held`, :func:`held_verdicts`);
- a module removed from Git whose telemetry stopped before the scoring window is retired, not
  stopped, and is not judged (:func:`not_retired`);
- the rest of the 30-day history goes through GX again (``wasmops.telemetry.history``): rows it
  rejects are left out and named, a module with none left or a stopped one is ``hold``;
- rows stamped in the future and rows left out are noted in that module's verdict.
"""

from __future__ import annotations

import pandas as pd

from models.monitor import MonitorVerdict, monitor, synthetic_only_holds


def monitor_verdicts(store, outcome, now, window_minutes: int, history_days: int, config,
                     desired: set[str] | None = None):
    """(verdicts, the history judged, its GX check) for every module in ``store``'s history.
    ``outcome``: GX on the scoring window; ``desired``: ``ns/name`` that Git deploys (None: unknown)."""
    from wasmops.telemetry.history import validated

    every = not_held(store.window(history_days * 24 * 60, now=now), outcome)
    every = not_retired(every, desired, pd.Timestamp(now) - pd.Timedelta(minutes=window_minutes))
    checked = validated(every, now=now, freshness_minutes=outcome.freshness_minutes)   # all of it, every run
    real = store.without_synthetic(every)
    hist = store.without_synthetic(checked.rows)
    out = monitor(hist, now=now, window_minutes=window_minutes, config=config)
    out += [MonitorVerdict(k, "hold", checked.held_all or checked.held[k]) for k in subjects(real)
            if checked.held_all or k in checked.held]
    out += synthetic_only_holds(every, real) + held_verdicts(outcome)
    future_noted(out, store.ahead(now), now)
    left_out_noted(out, checked.left_out, outcome.held_series)
    return out, hist, checked


def not_held(rows, outcome):
    """The rows of the modules GX did not hold for their own rows."""
    if not outcome.held_series or rows.empty:
        return rows
    return rows[~(rows["namespace"] + "/" + rows["module"]).isin(outcome.held_series).to_numpy()]


def not_retired(rows, desired: set[str] | None, since):
    """The rows of modules that served since ``since`` (the scoring window) or that Git still deploys.
    A module removed from Git whose telemetry then stopped is retired, not stopped: it was held as
    "its telemetry stopped" on every run until its rows aged out of the history (30 days)."""
    if desired is None or rows.empty:
        return rows
    key = rows["namespace"] + "/" + rows["module"]
    live = set(key[rows["ts"] > since])
    return rows[key.isin(desired | live).to_numpy()]


def desired_keys(gitops_dir) -> set[str] | None:
    """``ns/name`` of every deployment in the GitOps checkout (broken files aside); None without one."""
    from wasmops.gitops.desired import load_desired_state

    if not gitops_dir.exists():
        return None
    return set(load_desired_state(gitops_dir, strict=False).deployments)


def held_verdicts(outcome) -> list:
    """A ``hold`` naming the failed rows for each module GX held in the scoring window."""
    from wasmops.ai.hold_reasons import series_reason

    return [MonitorVerdict(k, "hold", series_reason(outcome.failed_for(k))) for k in sorted(outcome.held_series)]


def future_noted(verdicts, seen: dict, now) -> None:
    """Each verdict of a module with rows stamped in the future says so."""
    from wasmops.ai.hold_reasons import series_future_note

    for v in verdicts:
        note = series_future_note(seen, v.subject, now)
        if note:
            v.explanation = f"{v.explanation}; {note}"


def subjects(df) -> list[str]:
    return [] if df.empty else sorted(set(df["namespace"] + "/" + df["module"]))


def left_out_noted(verdicts, left_out: dict, window_held) -> None:
    """A module judged without the history rows GX rejected says so (how many, which checks, which
    rows); a module held for its rows in the scoring window names those already."""
    for v in verdicts:
        if v.subject in left_out and v.subject not in window_held:
            v.explanation = f"{v.explanation}; {left_out[v.subject]}"


def history_data(checked, v) -> dict:
    """What the decision record keeps about the history's validation."""
    rows = checked.outcome.stats["rows"] if checked.outcome is not None else 0
    return {"gx_history_result": checked.result_id, "gx_history_rows": rows,
            **({"gx_history_left_out": checked.left_out[v.subject]} if v.subject in checked.left_out else {})}


def action(v) -> str:
    """What is done about a monitor verdict (its decision record's ``action``)."""
    if v.verdict != "anomalous":
        return "none"
    if any(m.get("alarm") for m in v.metrics.values()):
        return "a person is alerted (wasmops.monitor.alarm)"
    return "none: the incident was alarmed already (one alarm per incident)"
