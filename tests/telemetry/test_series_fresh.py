"""Freshness is per module: one module whose telemetry stopped, while the others' is fresh, is held
naming its last row's time; the others are judged as before.

Before: GX checked the newest row of the whole window, so a module whose telemetry stopped 40
minutes ago was scored on its old rows as if current, and the monitor, which judged the last hour,
found no recent window for a module silent for hours and called it ``ok``. Which modules stop and
how long ago are drawn by hypothesis; the anomaly verdicts come from a real AnomalyModel trained on
the modules' earlier history, the monitor's from NAB series (real operations data)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from models.anomaly import AnomalyModel
from models.monitor import monitor
from support.nab_telemetry import SERIES, nab_modules
from wasmops.ai.verdicts import judge
from wasmops.telemetry import synthesize
from wasmops.telemetry.history import validated
from wasmops.telemetry.validate import validate

NOW = pd.Timestamp("2026-12-07T10:00Z")
HIST = synthesize(modules=4, days=15, freq="30min", seed=11, anomaly_rate=0, end=NOW).drop(
    columns=["is_anomaly", "anomaly_kind"])
WINDOW = HIST[HIST["ts"] > NOW - pd.Timedelta(hours=6)].reset_index(drop=True)
MODULES = sorted(WINDOW["module"].unique())


@pytest.fixture(scope="module")
def model():
    return AnomalyModel().fit(HIST[HIST["ts"] <= NOW - pd.Timedelta(hours=6)])


@pytest.fixture(scope="module")
def clean(model):
    out = validate(WINDOW, freshness_minutes=45, now=NOW, per_module_freshness=True)
    assert out.success
    return {v.subject: (v.verdict, v.explanation) for v in judge(WINDOW, out, model, {"version": "1"})}


@settings(max_examples=5, deadline=None, phases=[Phase.explicit, Phase.generate],   # GX per example: no shrinking
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(stopped=st.lists(st.sampled_from(MODULES), min_size=1, max_size=3, unique=True),
       ago=st.integers(1, 8))
def test_a_module_whose_telemetry_stopped_is_held_and_the_others_judged(model, clean, stopped, ago):
    last = NOW - pd.Timedelta(minutes=30 * ago)              # its newest row: 30 min .. 4 h ago (limit 45 min)
    df = WINDOW[~(WINDOW["module"].isin(stopped) & (WINDOW["ts"] > last))].reset_index(drop=True)
    out = validate(df, freshness_minutes=45, now=NOW, per_module_freshness=True)
    held = {f"prod/{m}" for m in stopped} if ago > 1 else set()     # 30 min old is within the 45 min limit
    assert out.window_ok and set(out.held_series) == held, out.failed
    for v in judge(df, out, model, {"version": "1"}):
        if v.subject in held:
            assert v.verdict == "hold", v.explanation
            assert f"{v.subject}: its newest row is {last.strftime('%Y-%m-%d %H:%M:%S')} UTC" in v.explanation
            assert "older than the freshness limit (45 min)" in v.explanation
        elif v.subject.removeprefix("prod/") in stopped:    # stopped 30 min ago: fresh enough, judged on its rows
            assert "freshness" not in v.explanation
        else:
            assert (v.verdict, v.explanation) == clean[v.subject]


def test_a_window_where_every_module_is_stale_still_says_it_once():
    df = WINDOW[WINDOW["ts"] <= NOW - pd.Timedelta(minutes=90)].reset_index(drop=True)
    out = validate(df, freshness_minutes=45, now=NOW, per_module_freshness=True)
    assert not out.window_ok
    assert {v.explanation for v in judge(df, out, None, {})} == {
        "newest telemetry is 90 min old, older than --freshness-minutes 45"}


@pytest.mark.parametrize("hours", [2, 9, 50])
def test_the_monitor_holds_a_module_silent_for_hours_instead_of_calling_it_ok(hours):
    now = pd.Timestamp("2026-12-07T12:00Z")
    df = nab_modules(now)
    gone = (df["module"] == "cpu-b") & (df["ts"] > now - pd.Timedelta(hours=hours))
    hist = df[~gone].reset_index(drop=True)
    before = {v.subject: v.verdict for v in monitor(hist, now=now, window_minutes=60)}
    assert before["prod/cpu-b"] == "ok"                        # what it said: no recent window, no alarm
    check = validated(hist, now=now, freshness_minutes=30)
    last = hist.loc[hist["module"] == "cpu-b", "ts"].max()
    assert list(check.held) == ["prod/cpu-b"] and not check.left_out
    assert check.held["prod/cpu-b"].startswith(
        f"its telemetry stopped: prod/cpu-b: its newest row is {last.strftime('%Y-%m-%d %H:%M:%S')} UTC")
    assert set(check.rows["module"]) == set(SERIES) - {"cpu-b"}
    others = df[df["module"] != "cpu-b"]
    assert [(v.subject, v.verdict, v.metrics) for v in monitor(check.rows, now=now, window_minutes=60)] == \
           [(v.subject, v.verdict, v.metrics) for v in monitor(others, now=now, window_minutes=60)]
