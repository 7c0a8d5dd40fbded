"""The monitor's history is validated with GX too, not only the scoring window.

Before: ``score`` validated the last ``window_minutes``; the monitor then fitted and calibrated its
detector on 30 days of history straight from the store, so a row that had failed GX (or one written
while no ``score`` ran) shaped the baseline and the threshold of an AI decision. Now the history's
rows not yet passed are validated (``wasmops.telemetry.history``), the rejected ones are left out
and named, and the module is judged exactly as on its clean history.

The history is real operations data (NAB realAWSCloudwatch, MIT licence: each series is one
module's p95 latency per 5-minute window); which modules go bad, how, where in the 14 days and
whether the bad row is there from the start or appended later into a range already validated are
drawn by hypothesis."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from models.monitor import monitor
from support.nab_telemetry import KINDS, SERIES, corrupt as _bad, nab_modules
from wasmops.telemetry import Store
from wasmops.telemetry.gx_ledger import Ledger
from wasmops.telemetry.history import suite_digest, validated_history
from wasmops.telemetry.validate import load_suite

NOW = pd.Timestamp("2026-12-07T12:00Z")


@pytest.fixture(scope="module")
def clean():
    return nab_modules(NOW)


def _verdicts(df):
    return [(v.subject, v.verdict, v.explanation, v.metrics) for v in monitor(df, now=NOW, window_minutes=60)]


def _keys(df) -> set:
    return set(zip(df["module"], df["ts"]))


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
        if is_late:    # a new key between two windows validated already: only the row itself marks it
            late.append(_bad(clean.loc[i], kind).copy())
            late[-1]["ts"] += pd.Timedelta(minutes=len(late))
        else:
            early.setdefault(i, _bad(clean.loc[i], kind))
    store.append(pd.concat([clean.drop(index=list(early)), pd.DataFrame(list(early.values()))]), now=NOW)
    check = validated_history(store, 30 * 24 * 60, now=NOW)
    if late:
        store.append(pd.DataFrame(late), now=NOW)
        check = validated_history(store, 30 * 24 * 60, now=NOW)
        assert check.checked == len(early) + len(late)      # the new rows and the rejected ones, nothing else
    clean_rows = clean.drop(index=list(early))
    assert _keys(check.rows) == _keys(clean_rows)
    per_module = pd.Series([r["module"] for r in list(early.values()) + late]).value_counts()
    assert set(check.left_out) == {f"prod/{m}" for m in per_module.index}
    for m, n in per_module.items():
        text = check.left_out[f"prod/{m}"]
        assert text.startswith(f"{n} row{'s' if n != 1 else ''} of its history left out") and f"in prod/{m} 20" in text
    assert _verdicts(check.rows) == _verdicts(clean_rows)
    again = validated_history(store, 30 * 24 * 60, now=NOW)     # only the rejected rows are checked again
    assert again.checked == len(early) + len(late) and _keys(again.rows) == _keys(clean_rows)
    assert again.left_out == check.left_out


def test_a_row_appended_later_into_a_validated_range_is_validated(tmp_path, clean):
    store = Store(tmp_path / "telemetry.db")
    store.append(clean, now=NOW)
    assert validated_history(store, 30 * 24 * 60, now=NOW).checked == len(clean)
    assert validated_history(store, 30 * 24 * 60, now=NOW).checked == 0          # passed: not checked again
    old = _bad(clean.iloc[100], "negative_fuel")
    old["ts"] += pd.Timedelta(minutes=2)                                         # 13 days ago, between windows
    good = clean.iloc[[200]].assign(ts=clean["ts"].iloc[200] + pd.Timedelta(minutes=1))
    assert store.append(pd.concat([pd.DataFrame([old]), good]), now=NOW) == 2
    check = validated_history(store, 30 * 24 * 60, now=NOW)
    assert check.checked == 2 and _keys(check.rows) == _keys(pd.concat([clean, good]))
    assert list(check.left_out) == ["prod/cpu-a"] and old["ts"].strftime("%Y-%m-%d %H:%M") in check.left_out["prod/cpu-a"]


def test_another_suite_validates_every_row_again(tmp_path, clean):
    store = Store(tmp_path / "telemetry.db")
    store.append(clean.head(500), now=NOW)
    suite = load_suite()
    validated_history(store, 30 * 24 * 60, now=NOW)
    assert Ledger(store, suite_digest(suite)).to_check(None, None).empty
    tighter = {**suite, "expectations": suite["expectations"] + [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "latency_p95_ms", "max_value": 1.0}}]}
    check = validated_history(store, 30 * 24 * 60, now=NOW, suite=tighter)
    assert check.checked == 500 and len(check.rows) == (clean.head(500)["latency_p95_ms"] <= 1.0).sum()


def test_a_failure_no_module_explains_holds_the_whole_history(tmp_path, clean):
    store = Store(tmp_path / "telemetry.db")
    store.append(clean.head(300), now=NOW)
    suite = load_suite()
    capped = {**suite, "expectations": suite["expectations"] + [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"max_value": 10}}]}
    check = validated_history(store, 30 * 24 * 60, now=NOW, suite=capped)
    assert check.held_all.startswith("its history failed validation in a way no module's rows explain")
    assert "table_row_count_to_be_between" in check.held_all and not check.left_out
    assert Ledger(store, suite_digest(capped)).to_check(None, None).shape[0] == 300     # nothing counted as passed
