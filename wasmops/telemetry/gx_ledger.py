"""Which stored rows GX has not passed yet, kept in the store, so a 30-day history is validated once.

The monitor fits its detector on up to 30 days of each module's history. Validating all of it
with GX on every ``score`` run costs seconds that grow with the fleet (``bench/gx_history.py``), so
the store remembers, per row, what is still to be checked:

* ``gx_unsettled (series_id, ts)``: rows GX has not passed. A trigger on ``samples`` adds every
  row inserted (or changed in place) whoever writes it: the collector, ``telemetry load``, a late
  scrape into a time range validated long ago, a backfill while no ``score`` ran, ``sqlite3`` by
  hand. So it is keyed by the row, never by a time range: a row appended later into an already
  validated range is still validated.
* ``gx_rejected (series_id, ts)``: rows GX failed. They are checked again on every run (they are
  few, and so the reason given is today's), and stay out of the monitor's history.
* ``gx_ledger``: the digest of the suite the settled rows passed. A changed suite (a new
  expectation, a tighter bound) unsettles every row.

Created on first use (an existing store's rows are all unsettled then), in one transaction with
the triggers, so no row written meanwhile escapes it. Nothing is deleted from ``samples``.

    >>> import tempfile, pandas as pd
    >>> from pathlib import Path
    >>> from wasmops.telemetry import Store, synthesize
    >>> st = Store(Path(tempfile.mkdtemp()) / "t.db")
    >>> _ = st.append(synthesize(modules=2, days=1))
    >>> led = Ledger(st, suite_digest="sha256:x")
    >>> keys = led.to_check(None, None)
    >>> len(keys), list(keys.columns)
    (48, ['series_id', 'ts'])
    >>> led.settle(passed=keys.iloc[:47], rejected=keys.iloc[47:])
    >>> len(led.to_check(None, None))                  # the rejected row is checked again
    1
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_DDL = """
CREATE TABLE IF NOT EXISTS gx_unsettled (series_id INTEGER NOT NULL, ts INTEGER NOT NULL,
    PRIMARY KEY (series_id, ts)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gx_rejected (series_id INTEGER NOT NULL, ts INTEGER NOT NULL,
    PRIMARY KEY (series_id, ts)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gx_ledger (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS gx_unsettle_insert AFTER INSERT ON samples BEGIN
    INSERT OR IGNORE INTO gx_unsettled (series_id, ts) VALUES (NEW.series_id, NEW.ts); END;
CREATE TRIGGER IF NOT EXISTS gx_unsettle_update AFTER UPDATE ON samples BEGIN
    INSERT OR IGNORE INTO gx_unsettled (series_id, ts) VALUES (NEW.series_id, NEW.ts); END
"""


class Ledger:
    """The GX state of ``store``'s rows for the suite with ``suite_digest``."""

    def __init__(self, store, suite_digest: str):
        self.store = store
        with store._tx():
            for stmt in filter(str.strip, _DDL.split(";\n")):
                store.db.execute(stmt)
            row = store.db.execute("SELECT value FROM gx_ledger WHERE key = 'suite'").fetchone()
            if row is None or row[0] != suite_digest:     # first use, or another suite: nothing has passed it
                store.db.execute("DELETE FROM gx_rejected")
                store.db.execute("INSERT OR IGNORE INTO gx_unsettled (series_id, ts) SELECT series_id, ts FROM samples")
                store.db.execute("INSERT INTO gx_ledger (key, value) VALUES ('suite', ?) "
                                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (suite_digest,))
        self.reset = row is None or row[0] != suite_digest

    def to_check(self, since_ns: int | None, until_ns: int | None) -> pd.DataFrame:
        """``series_id, ts`` (ns) of the unsettled and the rejected rows with ``since <= ts <= until``."""
        where, args = [], []
        if since_ns is not None:
            where.append("ts >= ?")
            args.append(int(since_ns))
        if until_ns is not None:
            where.append("ts <= ?")
            args.append(int(until_ns))
        cond = (" WHERE " + " AND ".join(where)) if where else ""
        with self.store._lock:
            rows = self.store.db.execute(f"SELECT series_id, ts FROM gx_unsettled{cond} UNION "
                                         f"SELECT series_id, ts FROM gx_rejected{cond}", args + args).fetchall()
        return pd.DataFrame(np.array(rows, dtype=np.int64).reshape(-1, 2), columns=["series_id", "ts"])

    def settle(self, passed: pd.DataFrame, rejected: pd.DataFrame) -> None:
        """GX passed ``passed`` and failed ``rejected`` (frames of ``series_id, ts``)."""
        ok, bad = _pairs(passed), _pairs(rejected)
        with self.store._tx():
            db = self.store.db
            db.executemany("DELETE FROM gx_unsettled WHERE series_id = ? AND ts = ?", ok + bad)
            db.executemany("DELETE FROM gx_rejected WHERE series_id = ? AND ts = ?", ok)
            db.executemany("INSERT OR IGNORE INTO gx_rejected (series_id, ts) VALUES (?, ?)", bad)

    def series_ids(self) -> dict[tuple[str, str, str], int]:
        """``{(namespace, module, digest): series_id}``."""
        with self.store._lock:
            return {(ns, mod, dig): i for i, ns, mod, dig in
                    self.store.db.execute("SELECT id, namespace, module, digest FROM series")}


def _pairs(keys: pd.DataFrame) -> list[tuple[int, int]]:
    return list(zip(keys["series_id"].astype("int64").tolist(), keys["ts"].astype("int64").tolist()))
