"""A module's history as the monitor may use it: only rows the GX suite passes.

``score`` validates the scoring window; the continuous monitor then fits and calibrates its
detector on up to 30 days of each module's history, which must pass the same suite before any AI
decision is drawn from it. The whole history is validated on every run: on 20 modules × 30 days
of 1-minute windows (864,000 rows) GX took 1.7 s, 0.38 × reading those rows from the store and
0.07 × the detector's run on them, and about half of it is GX's fixed cost of a run, which
validating only new rows would pay as well (``bench/gx_history.py``, ``docs/decisions.md``). So
every row is checked against today's suite, whenever and however it was written::

    >>> import pandas as pd
    >>> from wasmops.telemetry import synthesize
    >>> now = pd.Timestamp("2026-12-07T12:00Z")
    >>> df = synthesize(modules=2, days=2, end=now, anomaly_rate=0).drop(columns=["is_anomaly", "anomaly_kind"])
    >>> df.loc[df.index[df["module"] == "mod-001"][5], "fuel"] = -7
    >>> h = validated(df, now=now)                               # GX: seconds  # doctest: +SKIP
    >>> len(h.rows), h.left_out["prod/mod-001"][:46]              # doctest: +SKIP
    (95, '1 of its 48 history rows left out of the detec')

A module's rejected rows are left out of its history and its verdict says how many, which checks
they failed and which rows they are (``left_out``); the module is judged on the rest (one bad row
would otherwise blind the monitor to that module for 30 days). A module none of whose rows pass,
or whose newest row is older than ``freshness_minutes`` (its telemetry stopped while others are
fresh: the detector would call it ``ok`` on old data), is ``hold`` (``held``). A failure no
module's rows explain leaves nothing validated: ``held_all`` says why and every module is held.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd

from .series_held import SERIES_NEWEST
from .validate import validate


@dataclass
class HistoryCheck:
    rows: pd.DataFrame                    # the history GX passed (the rows the monitor may use)
    outcome: object = None                # GX on the whole history (None: no rows)
    left_out: dict = field(default_factory=dict)   # "ns/module" -> why some of its rows are left out
    held: dict = field(default_factory=dict)       # "ns/module" -> why it is held (stale, or no row passed)
    held_all: str = ""                    # a failure no module's rows explain: every module is held
    seconds: float = 0.0

    @property
    def result_id(self) -> str | None:
        return getattr(self.outcome, "result_id", None)


def validated(rows: pd.DataFrame, *, now, freshness_minutes: float | None = None,
              suite: dict | None = None) -> HistoryCheck:
    """``rows`` (a module history, e.g. ``Store.window(30 days)``) less the rows the GX suite rejects.
    ``freshness_minutes``: a module whose newest row is older is held (its telemetry stopped)."""
    t0 = time.perf_counter()
    if rows.empty:
        return HistoryCheck(rows)
    out = validate(rows, suite=suite, freshness_minutes=freshness_minutes, min_rows=0, now=now,
                   per_module_freshness=True)
    check = HistoryCheck(rows, outcome=out)
    if not out.window_ok:       # not one module's rows: nothing in it counts as passed
        check.held_all = _window_reason(out)
        check.rows = rows.iloc[0:0]
    elif out.rejected:
        bad = rows.index.isin(list(out.rejected))
        check.rows = rows[~bad]
        check.left_out, check.held = _left_out(rows, bad, out)
    check.seconds = time.perf_counter() - t0
    return check


def _names(failed: list[dict]) -> str:
    return "; ".join(f"{f['type'].removeprefix('expect_')}({f.get('column') or ''})"
                     + (f" in {f['rows']}" if f.get("rows") else "") for f in failed[:8])


def _left_out(rows: pd.DataFrame, bad, out) -> tuple[dict[str, str], dict[str, str]]:
    """Per module: how many of its history's rows are left out, the checks they failed and the rows;
    and the modules held: stale (newest row too old), or none of whose rows passed."""
    subject = rows["namespace"] + "/" + rows["module"]
    total, rejected = subject.value_counts(), subject[bad].value_counts()
    left, held = {}, {}
    for k, n in sorted(rejected.items()):
        failed = out.held_series.get(k, [])
        stale = [f for f in failed if f.get("column") == SERIES_NEWEST]
        if stale:
            held[k] = (f"its telemetry stopped: {stale[0]['rows']}; the monitor judges a module on fresh "
                       "telemetry only" + (f" (its history also failed: {_names(failed)})" if len(failed) > 1 else ""))
        elif n == total[k]:
            held[k] = (f"all {n} row{'s' if n != 1 else ''} of its history failed validation "
                       f"({_names(failed)}): nothing to judge it on")
        else:
            left[k] = (f"{n} of its {total[k]} history rows left out of the detector (failed validation: "
                       f"{_names(failed)}); judged on the rows that passed")
    return left, held


def _window_reason(out) -> str:
    return (f"its history failed validation in a way no module's rows explain ({len(out.window_failed)} "
            f"check{'s' if len(out.window_failed) != 1 else ''}: {_names(out.window_failed)}); nothing is judged "
            "on unvalidated history")
