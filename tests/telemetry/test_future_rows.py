"""Telemetry time: rows from the future are refused (GX) and quarantined (store) with a reason, and
the scoring window is anchored at now, so a row dated 2099 cannot hide a real window full of errors."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from wasmops.telemetry import Store, schema, synthesize, validate

NOW = pd.Timestamp.now(tz="UTC").floor("min")
Y2099 = pd.Timestamp("2099-01-01T00:00:00Z")


def history(hours: int = 7 * 24):
    """Normal hourly history of two modules, ending an hour ago."""
    return synthesize(modules=2, teams=1, days=hours // 24, seed=5, anomaly_rate=0.0,
                      end=NOW.floor("h") - pd.Timedelta(hours=1))


def error_window(hist: pd.DataFrame) -> pd.DataFrame:
    """The last hour of mod-000: 300 calls, 300 errors, ending a minute ago."""
    row = hist[hist["module"] == "mod-000"].tail(1).copy()
    row["ts"] = NOW - pd.Timedelta(minutes=1)
    row["invocations"], row["errors"] = 300, 300
    row["fuel"] = (row["fuel"] // max(int(hist["invocations"].iloc[-1]), 1)) * 300
    return row


def from_2099(hist: pd.DataFrame) -> pd.DataFrame:
    row = hist[hist["module"] == "mod-001"].tail(1).copy()
    row["ts"] = Y2099
    return row


def test_a_row_from_2099_is_quarantined_with_its_reason(tmp_path):
    hist = history(48)
    store = Store(tmp_path / "t.db")
    assert store.append(pd.concat([hist, from_2099(hist)])) == len(hist)
    q = store.quarantined()
    assert len(q) == 1 and q["ts"].iloc[0] == Y2099 and q["module"].iloc[0] == "mod-001"
    assert "2099-01-01" in q["reason"].iloc[0] and "clock skew is 0 days 00:05:00" in q["reason"].iloc[0]
    assert pd.read_json(pd.io.common.StringIO(q["row"].iloc[0]), lines=True)["module"].iloc[0] == "mod-001"
    assert store.read()["ts"].max() < NOW and store.latest_ts() < NOW
    assert store.append(from_2099(hist)) == 0 and len(store.quarantined()) == 1   # idempotent


def test_within_the_clock_skew_allowance_is_kept(tmp_path):
    hist = history(24)
    row = from_2099(hist)
    row["ts"] = NOW + pd.Timedelta(minutes=4)
    store = Store(tmp_path / "t.db")
    assert store.append(row, now=NOW) == 1 and store.quarantined().empty
    row["ts"] = NOW + pd.Timedelta(minutes=6)
    assert store.append(row, now=NOW) == 0 and len(store.quarantined()) == 1


def test_gx_fails_a_future_row_even_with_freshness_off():
    hist = history(24)
    out = validate(pd.concat([hist, from_2099(hist)], ignore_index=True), freshness_minutes=None, now=NOW)
    assert not out.success
    assert ("expect_column_values_to_be_between", "ts") in out.failed_checks()
    (f,) = [f for f in out.failed if f["column"] == "ts"]
    assert "2099-01-01" in f["observed"] and "future" in f["expected"]


def test_the_real_window_is_still_scored_next_to_a_row_from_2099(tmp_path, monkeypatch):
    from models.anomaly import AnomalyModel
    from wasmops.ai.verdicts import judge

    hist = history()
    model = AnomalyModel(n_estimators=50, random_state=0).fit(hist)
    monkeypatch.setenv("WASMOPS_HOME", str(tmp_path))
    store = Store.open()
    store.append(pd.concat([hist, error_window(hist), from_2099(hist)]))

    from tasks.telemetry import read_window

    df = read_window.fn(minutes=30)         # the task the score flow runs: anchored at now
    assert len(df) == 1 and (df["errors"] == 300).all() and df["ts"].max() < NOW
    outcome = validate(df, freshness_minutes=30)
    assert outcome.success, outcome.to_markdown()
    (v,) = judge(df, outcome, model, {"name": "anomaly", "version": "t"})
    # Scored on the real window (not hold, not the 2099 row): the 300/300 errors are what moved most.
    # Whether this IsolationForest then says "anomalous" depends on the hour the test runs at (its
    # features include the hour of day); the continuous monitor (tests/models/test_monitor.py) and the
    # release judge are the detectors measured on real data.
    assert v.subject == "prod/mod-000" and v.verdict in ("ok", "anomalous")
    assert "error_rate 1 vs baseline" in v.explanation


def test_window_anchors_at_now_not_at_the_newest_row(tmp_path):
    """An old store (written before rows were checked) with a 2099 row: the window still sees now."""
    hist = history(24)
    store = Store(tmp_path / "t.db")
    store.append(hist)
    store.append(from_2099(hist), now=Y2099)      # as if the check had been off
    assert store.latest_ts() == hist["ts"].max()
    # half an hour past the hour after the newest row: 180 minutes back hold its last two hours, and no
    # hour sits on the window's edge (NOW itself is on one when the tests run in an hour's first minute)
    at = hist["ts"].max() + pd.Timedelta(minutes=90)
    w = store.window(180, now=at)
    assert len(w) == 2 * 2 and w["ts"].max() == hist["ts"].max()
    assert store.window(180, now=at, digest="sha256:none").empty


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offsets=st.lists(st.integers(min_value=-10_000, max_value=10_000), min_size=1, max_size=20, unique=True))
def test_rows_are_kept_or_quarantined_by_their_distance_from_now(tmp_path_factory, offsets):
    """Generated: rows at now ± N seconds; exactly those beyond now + 5 min are quarantined."""
    base = schema.coerce(history(24).tail(1), labels=False)
    rows = pd.concat([base.assign(ts=NOW + pd.Timedelta(seconds=o)) for o in offsets], ignore_index=True)
    store = Store(tmp_path_factory.mktemp("gen") / "t.db")
    kept = store.append(rows, now=NOW)
    future = sum(o > schema.CLOCK_SKEW.total_seconds() for o in offsets)
    assert kept == len(offsets) - future and len(store.quarantined()) == future
    assert (store.read()["ts"] <= NOW + schema.CLOCK_SKEW).all()


@pytest.mark.parametrize("minutes", [None, 60])
def test_an_empty_store_gives_an_empty_window(tmp_path, minutes):
    assert Store(tmp_path / "t.db").window(minutes).empty


def test_a_window_of_zero_minutes_is_empty_not_the_whole_store(tmp_path):
    # Found from outside: `--hours 0` read every row (``if minutes`` took 0 for "no bound").
    from wasmops.telemetry import synthesize

    store = Store(tmp_path / "t.db")
    store.append(synthesize(modules=1, days=1, seed=1, end=pd.Timestamp.now(tz="UTC").floor("h")))
    assert store.window(0).empty and len(store.window(None)) == len(store.read()) > 0
