"""The monitor's history is validated with GX too, not only the scoring window.

Before: ``score`` validated the last ``window_minutes``; the monitor then fitted and calibrated its
detector on 30 days of history straight from the store, so a row that had failed GX (or one written
while no ``score`` ran) shaped the baseline and the threshold of an AI decision. Now the history is
validated on every run (``wasmops.telemetry.history``), the rejected rows are left out and named,
and the module is judged exactly as on its clean history.

The history is real operations data (NAB realAWSCloudwatch, MIT licence: each series is one
module's p95 latency per 5-minute window); which modules go bad, how, where in the 14 days and
whether the bad row is there from the start or appended later into a range a run had already
validated are drawn by hypothesis."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from models.monitor import monitor
from support.nab_telemetry import KINDS, SERIES, corrupt, nab_modules
from wasmops.telemetry import Store
from wasmops.telemetry.history import validated
from wasmops.telemetry.validate import load_suite

NOW = pd.Timestamp("2026-12-07T12:00Z")
MONTH = 30 * 24 * 60


@pytest.fixture(scope="module")
def clean():
    return nab_modules(NOW)


def _verdicts(df):
    return [(v.subject, v.verdict, v.explanation, v.metrics) for v in monitor(df, now=NOW, window_minutes=60)]


def _keys(df) -> set:
    return set(zip(df["module"], df["ts"]))


def _history(store):
    return validated(store.window(MONTH, now=NOW), now=NOW)


@settings(max_examples=6, deadline=None, phases=[Phase.explicit, Phase.generate],   # GX per example: no shrinking
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(bad=st.lists(st.tuples(st.sampled_from(sorted(SERIES)), st.sampled_from(KINDS),
                              st.floats(0.0, 0.97), st.booleans()), min_size=1, max_size=4))
def test_rows_that_fail_gx_never_reach_the_detector(tmp_path_factory, clean, bad):
    """Bad rows anywhere in the 14 days, there from the start or appended later into a validated range:
    each is left out and named, and every module is judged exactly as on its clean history."""
    store = Store(tmp_path_factory.mktemp("h") / "telemetry.db")
    early, late = {}, []
    for module, kind, where, is_late in bad:
        rows = clean.index[clean["module"] == module]
        i = rows[int(where * (len(rows) - 13))]          # never in the scoring hour (the window's GX holds those)
        if is_late:    # a new key between two windows a run validated already
            late.append(corrupt(clean.loc[i], kind))
            late[-1]["ts"] += pd.Timedelta(minutes=len(late))
        else:
            early.setdefault(i, corrupt(clean.loc[i], kind))
    store.append(pd.concat([clean.drop(index=list(early)), pd.DataFrame(list(early.values()))]), now=NOW)
    check = _history(store)
    if late:
        assert set(check.left_out) == {f"prod/{r['module']}" for r in early.values()}
        store.append(pd.DataFrame(late), now=NOW)
        check = _history(store)
    clean_rows = clean.drop(index=list(early))
    assert _keys(check.rows) == _keys(clean_rows) and not check.held and not check.held_all
    per_module = pd.Series([r["module"] for r in list(early.values()) + late]).value_counts()
    assert set(check.left_out) == {f"prod/{m}" for m in per_module.index}
    for m, n in per_module.items():
        text = check.left_out[f"prod/{m}"]
        total = (clean["module"] == m).sum() + sum(r["module"] == m for r in late)
        assert text.startswith(f"{n} of its {total} history rows left out of the detector"), text
        assert f"in prod/{m} 20" in text
    assert _verdicts(check.rows) == _verdicts(clean_rows)


def test_a_module_none_of_whose_rows_pass_is_named_not_dropped(clean):
    df = clean.copy()
    b = df["module"] == "cpu-b"
    df.loc[b, "errors"] = df.loc[b, "invocations"] + 1                  # a counter bug: every row of it
    check = validated(df, now=NOW)
    assert list(check.held) == ["prod/cpu-b"] and "prod/cpu-b" not in check.left_out
    assert check.held["prod/cpu-b"].startswith(f"all {b.sum()} rows of its history failed validation")
    assert "column_pair_values_a_to_be_greater_than_b(invocations, errors)" in check.held["prod/cpu-b"]
    assert _keys(check.rows) == _keys(clean[~b])


def test_a_failure_no_module_explains_holds_the_whole_history(clean):
    suite = load_suite()
    capped = {**suite, "expectations": suite["expectations"] + [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"max_value": 10}}]}
    check = validated(clean.head(300), now=NOW, suite=capped)
    assert check.held_all.startswith("its history failed validation in a way no module's rows explain")
    assert "table_row_count_to_be_between" in check.held_all and check.rows.empty and not check.left_out
