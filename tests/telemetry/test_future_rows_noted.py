"""Rows a fast clock stamped in the future are named beside the verdict of a module that the window
also holds valid rows of (it is judged on those).

Before: the hold named them only when the whole window was empty; a module whose last minutes a
fast clock wrote ahead was judged on its earlier rows and the future rows were never mentioned.
Which module, how long the fast clock wrote and how far ahead are drawn by hypothesis; the rows
are written through ``Store.append`` with the fast clock's ``now``, as such a collector writes them."""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from wasmops.ai.verdicts import judge
from wasmops.telemetry import Store, synthesize
from wasmops.telemetry.validate import validate

NOW = pd.Timestamp.now(tz="UTC").floor("min")
HIST = synthesize(modules=2, teams=1, days=1, freq="5min", seed=11, anomaly_rate=0, end=NOW).drop(
    columns=["is_anomaly", "anomaly_kind"])


@settings(max_examples=4, deadline=None, phases=[Phase.explicit, Phase.generate],   # GX per example: no shrinking
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(module=st.sampled_from(sorted(HIST["module"].unique())), fast_for_min=st.integers(5, 25),
       beyond_min=st.integers(6, 3 * 24 * 60))
def test_future_rows_of_a_judged_module_are_said(tmp_path_factory, module, fast_for_min, beyond_min):
    store = Store(tmp_path_factory.mktemp("skew") / "t.db")
    skew = pd.Timedelta(minutes=fast_for_min + beyond_min)
    late = (HIST["module"] == module) & (HIST["ts"] > NOW - pd.Timedelta(minutes=fast_for_min))
    store.append(HIST[~late], now=NOW)
    store.append(HIST[late].assign(ts=lambda d: d["ts"] + skew), now=NOW + skew)   # the fast clock's own "now"
    df = store.window(60, now=NOW)
    out = validate(df, freshness_minutes=30, now=NOW)
    assert out.success and (df["module"] == module).sum() >= 6            # valid rows of it in the window
    n = int(late.sum())
    for v in judge(df, out, None, {}, window_minutes=60, store=store.ahead(NOW)):
        said = f"not judged: {n} row{'s' if n != 1 else ''} of prod/{module} stamped in the future" in v.explanation
        assert said is (v.subject == f"prod/{module}"), v.explanation
        assert ("clock skew" in v.explanation) is said


def test_the_monitor_verdict_of_that_module_says_so_too(tmp_path):
    from models.monitor import MonitorVerdict
    from models.monitor_run import future_noted

    store = Store(tmp_path / "t.db")
    mod = HIST["module"].iloc[0]
    late = (HIST["module"] == mod) & (HIST["ts"] > NOW - pd.Timedelta(minutes=15))
    store.append(HIST[~late], now=NOW)
    store.append(HIST[late].assign(ts=lambda d: d["ts"] + pd.Timedelta(hours=2)), now=NOW + pd.Timedelta(hours=2))
    verdicts = [MonitorVerdict(f"prod/{m}", "ok", "every metric within its calibrated range") for m in sorted(set(HIST["module"]))]
    future_noted(verdicts, store.ahead(NOW), NOW)
    said = {v.subject: "stamped in the future" in v.explanation for v in verdicts}
    assert said == {f"prod/{m}": m == mod for m in sorted(set(HIST["module"]))}
