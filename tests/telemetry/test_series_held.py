"""One module's bad telemetry holds that module, not every module.

Before: the suite validated the whole window and any failed check held every module, so five bad
rows of one module stopped every anomaly verdict, the monitor and training. Now the failed rows are
attributed to their series: that module is ``hold`` naming its rows, and every other module gets
the verdict it gets on a clean window. Which modules go bad, how (NaN, negative value, a
duplicate key, a row stamped in the future) and which rows are drawn by hypothesis over
synthesized telemetry, scored by a real AnomalyModel trained on the modules' earlier history."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from models.anomaly import AnomalyModel
from models.training import plan_training
from wasmops.ai.verdicts import judge, to_decision
from wasmops.telemetry import synthesize
from wasmops.telemetry.validate import validate

NOW = pd.Timestamp("2026-12-07T10:00Z")
HIST = synthesize(modules=4, days=15, seed=7, anomaly_rate=0, end=NOW).drop(columns=["is_anomaly", "anomaly_kind"])
WINDOW = HIST[HIST["ts"] > NOW - pd.Timedelta(hours=12)].reset_index(drop=True)
MODULES = sorted(WINDOW["module"].unique())
KINDS = ("nan_latency", "negative_fuel", "negative_errors", "duplicate_key", "future_ts")


@pytest.fixture(scope="module")
def model():
    return AnomalyModel().fit(HIST[HIST["ts"] <= NOW - pd.Timedelta(hours=12)])


@pytest.fixture(scope="module")
def clean(model):
    out = validate(WINDOW, freshness_minutes=None, now=NOW)
    assert out.success
    return {v.subject: (v.verdict, v.explanation) for v in judge(WINDOW, out, model, {"version": "1"})}


def _corrupt(df: pd.DataFrame, module: str, kind: str, picks: list[int], ahead_h: int) -> pd.DataFrame:
    rows = df.index[df["module"] == module][sorted(picks)]
    if kind == "duplicate_key":
        return pd.concat([df, df.loc[rows]], ignore_index=True)
    df = df.copy()
    if kind == "nan_latency":
        df.loc[rows, "latency_p95_ms"] = np.nan
    elif kind == "negative_fuel":
        df.loc[rows, "fuel"] = -1000
    elif kind == "negative_errors":
        df.loc[rows, "errors"] = -1
    else:
        df.loc[rows, "ts"] = NOW + pd.Timedelta(hours=ahead_h)
    return df


@settings(max_examples=6, deadline=None, phases=[Phase.explicit, Phase.generate],   # GX per example: no shrinking
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(bad=st.lists(st.tuples(st.sampled_from(MODULES), st.sampled_from(KINDS)), min_size=1, max_size=2,
                    unique_by=lambda t: t[0]),
       picks=st.lists(st.integers(0, 11), min_size=1, max_size=4, unique=True), ahead_h=st.integers(1, 72))
def test_only_the_module_with_bad_rows_is_held(model, clean, bad, picks, ahead_h):
    df = WINDOW
    for module, kind in bad:
        df = _corrupt(df, module, kind, picks, ahead_h)
    out = validate(df, freshness_minutes=None, now=NOW)
    held = {f"prod/{m}" for m, _ in bad}
    verdicts = judge(df, out, model, {"version": "1"})
    assert {v.subject for v in verdicts} == set(clean)
    for v in verdicts:
        if v.subject in held:
            assert v.verdict == "hold" and f"in {v.subject} 20" in v.explanation, v.explanation
        else:   # judged exactly as on the clean window
            assert (v.verdict, v.explanation) == clean[v.subject]
    assert not out.success and out.window_ok and set(out.held_series) == held, out.failed
    assert "every other module is judged: " + ", ".join(f"`{k}`" for k in sorted(held)) in out.to_markdown()
    gx = {v.subject: to_decision(v, outcome=out, model_info={}, window={}, action="").data for v in verdicts}
    assert all(d["gx_success"] is (s not in held) and d["gx_held_series"] == sorted(held) for s, d in gx.items())


def test_a_failure_of_the_whole_window_still_holds_every_module():
    df = WINDOW.assign(fuel=WINDOW["fuel"].astype("float64"))   # a column's type: no one module's rows
    df.loc[df.index[df["module"] == MODULES[0]][0], "errors"] = -1
    out = validate(df, freshness_minutes=None, now=NOW)
    verdicts = judge(df, out, None, {})
    assert not out.window_ok and [f["column"] for f in out.window_failed] == ["fuel"]
    assert {v.subject for v in verdicts} == {f"prod/{m}" for m in MODULES}
    assert all(v.verdict == "hold" and "failed validation" in v.explanation for v in verdicts)


def test_training_leaves_out_only_the_held_module():
    plan = plan_training(HIST, holdout_days=3, min_history_days=7)
    bad = plan.without({"prod/mod-001": "its own rows failed validation"})
    assert "prod/mod-001" not in bad.modules and bad.cold["prod/mod-001"] == "its own rows failed validation"
    assert sorted(bad.modules) == sorted(set(plan.modules) - {"prod/mod-001"})
    assert not (bad.data["module"] == "mod-001").any() and len(bad.data) == (plan.data["module"] != "mod-001").sum()


def test_the_monitor_holds_the_module_and_watches_the_others():
    from models.monitor_run import held_verdicts, not_held

    df = _corrupt(WINDOW, MODULES[1], "negative_fuel", [2, 3], 0)
    out = validate(df, freshness_minutes=None, now=NOW)
    rows = not_held(HIST, out)
    assert set(rows["module"]) == set(MODULES) - {MODULES[1]} and len(rows) == (HIST["module"] != MODULES[1]).sum()
    [v] = held_verdicts(out)
    assert (v.subject, v.verdict) == (f"prod/{MODULES[1]}", "hold") and "(2 rows)" in v.explanation


def test_a_row_of_no_module_is_the_window_failure():
    """A rejected row whose module is null belongs to no series: it cannot be one module's fault."""
    df = _corrupt(WINDOW, MODULES[2], "negative_fuel", [0], 0)
    df.loc[df.index[df["module"] == MODULES[0]][3], "module"] = None
    out = validate(df, freshness_minutes=None, now=NOW)
    assert not out.window_ok and [f["column"] for f in out.window_failed] == ["module"]
    assert all(v.verdict == "hold" and "failed validation" in v.explanation for v in judge(df, out, None, {}))
