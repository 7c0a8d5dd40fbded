"""The SQLite telemetry store: idempotent appends, durable across restarts, schema dtypes on read."""

from __future__ import annotations

import sqlite3
import threading

import pandas as pd
import pytest

from wasmops.config import Settings
from wasmops.telemetry import Store, schema, synthesize


@pytest.fixture()
def samples():
    return synthesize(modules=6, teams=2, days=3, seed=4)


def _sorted(df):
    return df.sort_values(schema.KEY).reset_index(drop=True)


def test_appending_the_same_samples_twice_stores_them_once(tmp_path, samples):
    st = Store(tmp_path / "t.db")
    assert st.append(samples) == len(samples) == 6 * 72
    assert st.append(samples) == 0
    assert st.count() == len(samples)
    # An overlapping batch (last day again plus one new module) inserts only what is new.
    extra = synthesize(modules=7, teams=2, days=3, seed=4)
    extra = extra[extra["ts"] > extra["ts"].max() - pd.Timedelta(days=1)]
    new = int((extra["module"] == "mod-006").sum())
    assert new == 24 and st.append(extra) == new
    assert st.count() == len(samples) + new


def test_samples_survive_a_restart_with_exact_values_and_schema_dtypes(tmp_path, samples):
    with Store(tmp_path / "t.db") as st:
        st.append(samples)
    st2 = Store(tmp_path / "t.db")
    df = st2.read()
    assert schema.check_dtypes(df) == [] and list(df.columns) == schema.COLUMNS
    assert df["ts"].is_monotonic_increasing
    pd.testing.assert_frame_equal(_sorted(df), _sorted(schema.coerce(samples, labels=False)))
    assert st2.latest_ts() == samples["ts"].max()


def test_read_filters_by_time_and_module(tmp_path, samples):
    st = Store(tmp_path / "t.db")
    st.append(samples)
    since, until = samples["ts"].min() + pd.Timedelta(hours=5), samples["ts"].min() + pd.Timedelta(hours=15)
    part = st.read(since=since, until=until, modules=["mod-001", "mod-004"])
    assert set(part["module"]) == {"mod-001", "mod-004"} and len(part) == 2 * 10
    assert part["ts"].min() == since and part["ts"].max() < until
    assert st.read(modules=[]).empty and schema.check_dtypes(st.read(modules=["nope"])) == []
    assert Store(tmp_path / "empty.db").latest_ts() is None


def test_primary_key_and_wal_mode(tmp_path, samples):
    st = Store(tmp_path / "t.db")
    st.append(samples)
    db = sqlite3.connect(tmp_path / "t.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    wide = db.execute("SELECT COUNT(*), COUNT(DISTINCT namespace || module || digest || ts_ns) FROM samples_wide").fetchone()
    assert wide == (len(samples), len(samples))
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO samples SELECT * FROM samples LIMIT 1")


def test_window_and_snapshot_commit_together(tmp_path, samples):
    st = Store(tmp_path / "t.db")
    one = samples.head(3)
    assert st.commit_window(one, "host-a", 123, {"series": {"x": 1}}) == 3
    assert st.snapshot("host-a") == (123, {"series": {"x": 1}}) and st.snapshot("other") is None
    bad = one.assign(invocations=[1, None, 2])  # cannot be stored: neither rows nor snapshot change
    with pytest.raises(ValueError):
        st.commit_window(bad, "host-a", 456, {"series": {}})
    assert st.snapshot("host-a")[0] == 123 and st.count() == 3


def test_readers_see_consistent_data_while_a_writer_appends(tmp_path):
    path = tmp_path / "t.db"
    Store(path).append(synthesize(modules=2, days=1, seed=1))
    chunks = [synthesize(modules=2, days=1, seed=1, start=f"2025-02-{d:02d}") for d in range(1, 11)]
    errors, counts = [], []

    def writer():
        st = Store(path)
        for c in chunks:
            st.append(c)

    def reader():
        st = Store(path)
        try:
            for _ in range(20):
                n = len(st.read())
                counts.append(n)
                assert n % 48 == 0  # whole appends only: a transaction is all or nothing
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and Store(path).count() == 48 * 11


def test_open_uses_the_workspace(tmp_path):
    st = Store.open(Settings(home=tmp_path / "ws"))
    assert st.path == tmp_path / "ws" / "telemetry.db" and st.path.exists()
