"""The telemetry store: samples in SQLite at ``<home>/telemetry.db``.

    >>> import tempfile
    >>> from wasmops.config import Settings
    >>> from wasmops.telemetry import Store, synthesize
    >>> st = Store.open(Settings(home=tempfile.mkdtemp()))         # <home>/telemetry.db
    >>> st.append(synthesize(modules=3, days=1))                   # 3 modules x 24 hours
    72
    >>> st.append(synthesize(modules=3, days=1))                   # the same keys again: nothing new
    0
    >>> st.read(modules=["mod-000"]).shape
    (24, 18)

Why SQLite (and not Parquet files or a CSV log):

* **Idempotent upserts.** A sample is keyed by ``(namespace, module, digest, ts)`` and written
  with ``INSERT OR IGNORE``: a repeated scrape, a retried Prefect task or a replay after a crash
  never duplicates a sample, and never overwrites one either. Parquet has no key to enforce this.
* **Transactions.** The collector writes a window's samples *and* its new cumulative snapshot in
  one transaction, so after a crash either both are there or neither is: no lost window, no
  double-counted one.
* **Crash safety.** WAL mode with ``synchronous=NORMAL`` survives a killed process (a power loss
  may lose the last transactions, never corrupt the file).
* **Concurrent readers.** In WAL mode readers (FinOps, training) don't block the collector and
  see a consistent snapshot; writers wait on ``busy_timeout`` instead of failing.
* It ships with Python: nothing to install or run.

Time: a sample dated beyond now + ``schema.CLOCK_SKEW`` (5 min) is from the future. ``append`` and
``commit_window`` put such rows in the ``quarantine`` table with the reason (``quarantined()``)
instead of ``samples``; so does a row with NaN in a number column (``samples``' NOT NULL, under
``INSERT OR IGNORE``, used to drop it without a word). ``window(minutes)`` reads the last minutes
up to *now*: no row, however dated, moves the scoring window away from the present.

Layout: label strings are stored once, in ``series`` (namespace, module, digest — UNIQUE) and
``attrs`` (team, project, cost_center — UNIQUE); ``samples`` holds numbers only, with PRIMARY
KEY ``(series_id, ts)``, which is the same key as ``(namespace, module, digest, ts)``. Reading
1M rows then decodes integers rather than six million strings. The view ``samples_wide`` gives
the schema's shape to anyone using SQL directly. ``ts`` is stored as integer nanoseconds (UTC).

Provenance: a series written from a frame that carries the synthesizer's label columns
(``is_anomaly``), or appended with ``origin="synthetic"``, is listed in ``series_origin`` as
synthetic (``synthetic_series()``). Training reads it to tag every model that saw a synthetic row
(``data.synthetic=true``); such a model is not promoted to ``@champion`` unless allowed.
"""

from __future__ import annotations

import gc
import json
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import Settings, current
from . import schema

_NUM = ["window_s", "invocations", "errors", "fuel", "peak_memory", "memory_limit", "replicas",
        "latency_p50_ms", "latency_p95_ms", "fuel_p99_per_call", "memory_p99"]

_DDL = f"""
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY, namespace TEXT NOT NULL, module TEXT NOT NULL, digest TEXT NOT NULL,
    UNIQUE (namespace, module, digest));
CREATE TABLE IF NOT EXISTS attrs (
    id INTEGER PRIMARY KEY, team TEXT NOT NULL, project TEXT NOT NULL, cost_center TEXT NOT NULL,
    UNIQUE (team, project, cost_center));
CREATE TABLE IF NOT EXISTS samples (
    series_id INTEGER NOT NULL REFERENCES series(id), ts INTEGER NOT NULL,
    attrs_id INTEGER NOT NULL REFERENCES attrs(id),
    window_s INTEGER NOT NULL, invocations INTEGER NOT NULL, errors INTEGER NOT NULL,
    fuel INTEGER NOT NULL, peak_memory INTEGER NOT NULL, memory_limit INTEGER NOT NULL,
    replicas INTEGER NOT NULL, latency_p50_ms REAL NOT NULL, latency_p95_ms REAL NOT NULL,
    fuel_p99_per_call REAL NOT NULL, memory_p99 REAL NOT NULL,
    PRIMARY KEY (series_id, ts)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS samples_ts ON samples (ts);
CREATE TABLE IF NOT EXISTS quarantine (
    namespace TEXT NOT NULL, module TEXT NOT NULL, digest TEXT NOT NULL, ts INTEGER NOT NULL,
    at INTEGER NOT NULL, reason TEXT NOT NULL, row TEXT NOT NULL,
    PRIMARY KEY (namespace, module, digest, ts)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS series_origin (
    series_id INTEGER PRIMARY KEY REFERENCES series(id), origin TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS collector_state (
    source TEXT PRIMARY KEY, ts INTEGER NOT NULL, state TEXT NOT NULL);
CREATE VIEW IF NOT EXISTS samples_wide AS
    SELECT s.ts AS ts_ns, s.window_s, r.namespace, r.module, r.digest, a.team, a.project, a.cost_center,
           {", ".join("s." + c for c in _NUM[1:])}
    FROM samples s JOIN series r ON r.id = s.series_id JOIN attrs a ON a.id = s.attrs_id;
"""


class Store:
    """Telemetry samples plus the collector's last cumulative snapshot, in one SQLite file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=30000")
        self.db.execute("PRAGMA cache_size=-65536")  # 64 MiB: bulk inserts into two B-trees ~2× faster
        self.db.execute("PRAGMA mmap_size=268435456")
        with self._tx():
            for stmt in filter(str.strip, _DDL.split(";")):
                self.db.execute(stmt)

    @classmethod
    def open(cls, settings: Settings | None = None) -> "Store":
        """The workspace store, ``<home>/telemetry.db``."""
        return cls((settings or current()).paths.telemetry_db)

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------------
    def _tx(self):
        store = self

        class _Tx:
            def __enter__(self):
                store._lock.acquire()
                store.db.execute("BEGIN IMMEDIATE")

            def __exit__(self, et, ev, tb):
                try:
                    store.db.execute("COMMIT" if et is None else "ROLLBACK")
                finally:
                    store._lock.release()

        return _Tx()

    def _ids(self, table: str, cols: list[str], frame: pd.DataFrame) -> np.ndarray:
        """Ids of ``frame``'s (cols) tuples in ``table``, inserting new ones. Inside a transaction."""
        uniq = frame[cols].drop_duplicates()
        tuples = list(uniq.itertuples(index=False, name=None))
        ph = ", ".join("?" * len(cols))
        self.db.executemany(f"INSERT OR IGNORE INTO {table} ({', '.join(cols)}) VALUES ({ph})", tuples)
        known = {tuple(r[1:]): r[0] for r in self.db.execute(f"SELECT id, {', '.join(cols)} FROM {table}")}
        uniq = uniq.assign(_id=[known[t] for t in tuples])
        return frame[cols].merge(uniq, on=cols, how="left")["_id"].to_numpy(np.int64)

    def _insert(self, df: pd.DataFrame, origin: str | None = None) -> int:
        if df.empty:
            return 0
        sid = self._ids("series", schema.SERIES, df)
        if origin:
            self.db.executemany("INSERT OR IGNORE INTO series_origin (series_id, origin) VALUES (?, ?)",
                                [(int(i), origin) for i in np.unique(sid)])
        aid = self._ids("attrs", ["team", "project", "cost_center"], df)
        ts = df["ts"].array.asi8
        cols = [sid.tolist(), ts.tolist(), aid.tolist()] + [df[c].to_numpy().tolist() for c in _NUM]
        before = self.db.total_changes
        self.db.executemany(f"INSERT OR IGNORE INTO samples (series_id, ts, attrs_id, {', '.join(_NUM)}) "
                            f"VALUES ({', '.join('?' * (3 + len(_NUM)))})", zip(*cols))
        return self.db.total_changes - before

    def _quarantine(self, df: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
        """Move rows dated beyond ``now + CLOCK_SKEW``, and rows with no value (NaN) in a number column
        (``samples`` holds numbers only: its NOT NULL would drop them without a word), into
        ``quarantine`` with the reason; return the rest."""
        future = (df["ts"] > now + schema.CLOCK_SKEW).to_numpy()
        nan = df[schema.FLOAT_COLUMNS].isna()
        out = future | nan.any(axis=1).to_numpy()
        if not out.any():
            return df
        bad = df[out]
        rows = bad.to_json(orient="records", date_format="iso", date_unit="ns", lines=True).splitlines()
        why = [_reasons(ts, now, fut, [c for c, v in zip(nan.columns, isnan) if v])
               for ts, fut, isnan in zip(bad["ts"], future[out], nan[out].to_numpy())]
        self.db.executemany(
            "INSERT OR IGNORE INTO quarantine (namespace, module, digest, ts, at, reason, row) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(ns, mod, dig, int(ts.value), int(now.value), reason, row)
             for ns, mod, dig, ts, reason, row in zip(bad["namespace"], bad["module"], bad["digest"], bad["ts"], why, rows)])
        return df[~out]

    def append(self, df: pd.DataFrame, *, now=None, origin: str | None = None) -> int:
        """Insert samples not already stored (by key); returns how many were new. Samples dated
        beyond ``now`` + :data:`~.schema.CLOCK_SKEW`, or with NaN in a number column, are quarantined
        instead, with the reason naming the column (see :meth:`quarantined`).

        ``origin``: ``"synthetic"`` marks the frame's series as synthetic; by default a frame with
        the synthesizer's label columns is synthetic (only the synthesizer writes labels)."""
        origin = origin or ("synthetic" if "is_anomaly" in df.columns else None)
        df = schema.coerce(df, labels=False)
        with self._tx():
            return self._insert(self._quarantine(df, _now(now)), origin)

    def commit_window(self, df: pd.DataFrame, source: str, ts_ns: int, state: dict, *, now=None) -> int:
        """Samples of one window and the collector's new snapshot, atomically (future rows quarantined)."""
        df = schema.coerce(df, labels=False) if len(df) else df
        with self._tx():
            n = self._insert(self._quarantine(df, _now(now))) if len(df) else 0
            self.db.execute("INSERT INTO collector_state (source, ts, state) VALUES (?, ?, ?) "
                            "ON CONFLICT (source) DO UPDATE SET ts = excluded.ts, state = excluded.state",
                            (source, int(ts_ns), json.dumps(state, separators=(",", ":"))))
            return n

    def snapshot(self, source: str) -> tuple[int, dict] | None:
        """The collector's last (ts_ns, state) for ``source``, or None before its first scrape."""
        with self._lock:
            row = self.db.execute("SELECT ts, state FROM collector_state WHERE source = ?", (source,)).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    # -- reading ------------------------------------------------------------------------------
    def read(self, since=None, until=None, modules: Iterable[str] | None = None) -> pd.DataFrame:
        """Samples with ``since <= ts < until`` (either may be None), optionally only the named
        modules, sorted by ts, with the schema's dtypes."""
        where, args = [], []
        if since is not None:
            where.append("s.ts >= ?")
            args.append(_ns(since))
        if until is not None:
            where.append("s.ts < ?")
            args.append(_ns(until))
        if modules is not None:
            mods = list(modules)
            if not mods:
                return schema.empty()
            where.append(f"r.module IN ({', '.join('?' * len(mods))})")
            args.extend(mods)
        join = " JOIN series r ON r.id = s.series_id" if modules is not None else ""
        sql = (f"SELECT s.series_id, s.attrs_id, s.ts, {', '.join('s.' + c for c in _NUM)} FROM samples s{join}"
               + (" WHERE " + " AND ".join(where) if where else ""))
        gc_was_on = gc.isenabled()
        gc.disable()  # a million fresh tuples would trigger the cycle collector over and over
        try:
            with self._lock:
                rows = self.db.execute(sql, args).fetchall()
                series = self.db.execute("SELECT id, namespace, module, digest FROM series").fetchall()
                attrs = self.db.execute("SELECT id, team, project, cost_center FROM attrs").fetchall()
            if not rows:
                return schema.empty()
            arr = np.array(rows, dtype=object)
            del rows
        finally:
            if gc_was_on:
                gc.enable()
        ints = {c: arr[:, i].astype(np.int64)
                for i, c in enumerate(["_sid", "_aid", "ts"] + _NUM[:7]) if c != "window_s"}
        order = np.argsort(ints["ts"], kind="stable")
        out: dict[str, object] = {"ts": pd.to_datetime(ints["ts"][order], utc=True).as_unit("ns"),
                                  "window_s": arr[order, 3].astype(np.float64)}  # REAL unless whole seconds
        for ids, table, names in ((ints["_sid"][order], series, schema.SERIES),
                                  (ints["_aid"][order], attrs, ["team", "project", "cost_center"])):
            codes = _codes(ids, table)
            for j, name in enumerate(names):
                out[name] = pd.array([r[j + 1] for r in table], dtype="str").take(codes)
        for i, c in enumerate(_NUM[1:], start=4):  # arr columns: series, attrs, ts, then _NUM
            out[c] = ints[c][order] if c in ints else arr[order, i].astype(np.float64)
        return pd.DataFrame({c: out[c] for c in schema.COLUMNS})

    def window(self, minutes: float | None = None, *, now=None, modules: Iterable[str] | None = None,
               digest: str | None = None) -> pd.DataFrame:
        """The samples of the last ``minutes`` (all when None) up to ``now`` + the clock-skew allowance.

        Anchored at the clock, never at the newest row: one row from the future (stored before this
        check existed) cannot move the window away from the real, recent samples."""
        now = _now(now)
        since = now - pd.Timedelta(minutes=minutes) if minutes is not None else None   # 0: nothing, not all
        df = self.read(since=since, until=now + schema.CLOCK_SKEW + pd.Timedelta(1, "ns"), modules=modules)
        return df[df["digest"] == digest].reset_index(drop=True) if digest is not None and not df.empty else df

    def quarantined(self) -> pd.DataFrame:
        """Refused samples: ``namespace, module, digest, ts, at, reason, row`` (the sample as JSON)."""
        with self._lock:
            rows = self.db.execute("SELECT namespace, module, digest, ts, at, reason, row FROM quarantine "
                                   "ORDER BY at, ts").fetchall()
        df = pd.DataFrame(rows, columns=["namespace", "module", "digest", "ts", "at", "reason", "row"])
        for c in ("ts", "at"):
            df[c] = pd.to_datetime(df[c].astype("int64"), utc=True)
        return df

    def synthetic_series(self) -> set[tuple[str, str, str]]:
        """``{(namespace, module, digest)}`` of the series written as synthetic."""
        with self._lock:
            rows = self.db.execute("SELECT r.namespace, r.module, r.digest FROM series_origin o "
                                   "JOIN series r ON r.id = o.series_id WHERE o.origin = 'synthetic'").fetchall()
        return {tuple(r) for r in rows}

    def without_synthetic(self, df: pd.DataFrame) -> pd.DataFrame:
        """``df`` minus rows of synthetic series: costs and budgets count real traffic only."""
        syn = self.synthetic_series()
        if not syn or df.empty:
            return df
        keys = zip(df["namespace"], df["module"], df["digest"])
        return df[[k not in syn for k in keys]]

    def latest_ts(self, now=None) -> pd.Timestamp | None:
        """End of the newest stored window not in the future (beyond the skew), or None when empty."""
        limit = _ns(_now(now) + schema.CLOCK_SKEW)
        with self._lock:
            v = self.db.execute("SELECT MAX(ts) FROM samples WHERE ts <= ?", (limit,)).fetchone()[0]
        return None if v is None else pd.Timestamp(v, unit="ns", tz="UTC")

    def ahead(self, now=None) -> dict:
        """What a reader at ``now`` finds: ``newest`` (:meth:`latest_ts`), and the rows stamped beyond
        ``now`` + the clock-skew allowance (written by a clock that was ahead): ``future_rows``, and
        ``future_max``, the latest of them (None without any), and ``future_by_series``
        (``{"ns/module": (rows, latest)}``). No reader scores those rows."""
        now = _now(now)
        with self._lock:
            per = self.db.execute("SELECT r.namespace, r.module, COUNT(*), MAX(s.ts) FROM samples s JOIN series r "
                                  "ON r.id = s.series_id WHERE s.ts > ? GROUP BY r.namespace, r.module",
                                  (_ns(now + schema.CLOCK_SKEW),)).fetchall()
        by = {f"{ns}/{mod}": (int(n), pd.Timestamp(v, unit="ns", tz="UTC")) for ns, mod, n, v in per}
        return {"newest": self.latest_ts(now), "future_rows": sum(n for n, _ in by.values()),
                "future_max": max((v for _, v in by.values()), default=None), "future_by_series": by}

    def count(self) -> int:
        with self._lock:
            return self.db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]


def _codes(ids: np.ndarray, table: list[tuple]) -> np.ndarray:
    keys = np.array([r[0] for r in table], dtype=np.int64)
    order = np.argsort(keys)
    return order[np.searchsorted(keys[order], ids)]


def _now(now=None) -> pd.Timestamp:
    ts = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).as_unit("ns")


def _reasons(ts: pd.Timestamp, now: pd.Timestamp, future: bool, nan_columns: list[str]) -> str:
    parts = [_future_reason(ts, now)] if future else []
    if nan_columns:
        parts.append(f"{', '.join(nan_columns)} {'is' if len(nan_columns) == 1 else 'are'} NaN (no value): "
                     "the store keeps numbers only")
    return "; ".join(parts)


def _future_reason(ts: pd.Timestamp, now: pd.Timestamp) -> str:
    return (f"ts {ts.isoformat()} is {ts - now} ahead of the store's clock ({now.isoformat()}); "
            f"the allowed clock skew is {schema.CLOCK_SKEW}")


def _ns(t) -> int:
    ts = pd.Timestamp(t)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.as_unit("ns").value)
