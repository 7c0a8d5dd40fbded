"""A module's history as the monitor may use it: only rows the GX suite has passed.

``score`` validates the scoring window; the continuous monitor then fits and calibrates its
detector on up to 30 days of each module's history, which must pass the same suite before any AI
decision is drawn from it. The rows not yet passed (:mod:`.gx_ledger`: new, appended late into an
old range, or rejected before) are validated with GX; the others passed already::

    >>> import tempfile, pandas as pd
    >>> from pathlib import Path
    >>> from wasmops.telemetry import Store, synthesize
    >>> now = pd.Timestamp("2026-12-07T12:00Z")
    >>> st = Store(Path(tempfile.mkdtemp()) / "t.db")
    >>> df = synthesize(modules=2, days=2, end=now, anomaly_rate=0)
    >>> df.loc[df.index[df["module"] == "mod-001"][5], "fuel"] = -7
    >>> _ = st.append(df)
    >>> h = validated_history(st, 3 * 24 * 60, now=now)       # GX: seconds  # doctest: +SKIP
    >>> h.checked, len(h.rows), sorted(h.left_out)               # doctest: +SKIP
    (96, 95, ['prod/mod-001'])

A module's rejected rows are left out of its history and its verdict says how many, which checks
they failed and which rows they are (``left_out``); the module is still judged on the rest
(``docs/decisions.md``: one bad row would otherwise blind the monitor to that module for 30
days). A failure that no module's rows explain leaves nothing validated: ``held_all`` says why and
every module is held.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

import pandas as pd

from . import schema
from .gx_ledger import Ledger
from .validate import load_suite, validate


@dataclass
class HistoryCheck:
    rows: pd.DataFrame                    # the history GX has passed (the rows the monitor may use)
    checked: int = 0                      # rows validated by this call (the others had passed before)
    outcome: object = None                # GX on those rows (None: nothing to validate)
    left_out: dict = field(default_factory=dict)   # "ns/module" -> why its rejected rows are left out
    held_all: str = ""                    # a failure no module's rows explain: every module is held
    seconds: float = 0.0

    @property
    def result_id(self) -> str | None:
        return getattr(self.outcome, "result_id", None)


def suite_digest(suite: dict | None = None) -> str:
    doc = suite or load_suite()
    return "sha256:" + hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def validated_history(store, minutes: float, *, now, suite: dict | None = None) -> HistoryCheck:
    """The last ``minutes`` of ``store`` up to ``now`` (as :meth:`Store.window` reads them), less the
    rows GX rejects; the rows not yet passed are validated now and the ledger remembers the result."""
    t0 = time.perf_counter()
    now = pd.Timestamp(now)
    rows = store.window(minutes, now=now)
    ledger = Ledger(store, suite_digest(suite))
    since, until = now - pd.Timedelta(minutes=minutes), now + schema.CLOCK_SKEW
    keys = ledger.to_check(since.value, until.value)
    if rows.empty or keys.empty:
        return HistoryCheck(rows, seconds=time.perf_counter() - t0)
    sid = _series_ids(rows, ledger.series_ids())
    pairs = pd.MultiIndex.from_arrays([sid, rows["ts"].array.asi8])
    todo = rows[pairs.isin(pd.MultiIndex.from_frame(keys))]
    if todo.empty:
        return HistoryCheck(rows, seconds=time.perf_counter() - t0)
    out = validate(todo, suite=suite, freshness_minutes=None, min_rows=0, now=now)
    check = HistoryCheck(rows, checked=len(todo), outcome=out)
    if not out.window_ok:       # not one module's rows: nothing in it counts as passed
        check.held_all = _window_reason(out)
    else:
        bad = todo.index.isin(list(out.rejected))
        keyed = pd.DataFrame({"series_id": sid[rows.index.get_indexer(todo.index)], "ts": todo["ts"].array.asi8})
        ledger.settle(passed=keyed[~bad], rejected=keyed[bad])
        check.rows = rows.drop(index=todo.index[bad])
        check.left_out = _left_out(todo[bad], out)
    check.seconds = time.perf_counter() - t0
    return check


def _series_ids(rows: pd.DataFrame, ids: dict) -> "pd.Index":
    codes, uniques = pd.MultiIndex.from_frame(rows[schema.SERIES]).factorize()
    return pd.Index([ids[tuple(u)] for u in uniques]).take(codes).to_numpy()


def _names(failed: list[dict]) -> str:
    return "; ".join(f"{f['type'].removeprefix('expect_')}({f.get('column') or ''})"
                     + (f" in {f['rows']}" if f.get("rows") else "") for f in failed[:8])


def _left_out(bad: pd.DataFrame, out) -> dict[str, str]:
    """Per module: how many of its history's rows are left out, the checks they failed and the rows."""
    counts = (bad["namespace"] + "/" + bad["module"]).value_counts()
    return {k: (f"{n} row{'s' if n != 1 else ''} of its history left out of the detector (failed "
                f"validation: {_names(out.held_series.get(k, []))}); judged on the rows that passed")
            for k, n in sorted(counts.items())}


def _window_reason(out) -> str:
    return (f"its history failed validation in a way no module's rows explain ({len(out.window_failed)} "
            f"check{'s' if len(out.window_failed) != 1 else ''}: {_names(out.window_failed)}); nothing is judged "
            "on unvalidated history")
