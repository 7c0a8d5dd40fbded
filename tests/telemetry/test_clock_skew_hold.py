"""Clock skew: rows a fast clock stamped in the future are named in the hold's reason.

Found from outside: the last 90 minutes of a store's rows moved 2 h ahead (the collector's clock
ran fast, then NTP fixed it) made `wasmops score` hold with `no telemetry in the last 60 min: the
newest in the store is 90 min old (run `wasmops telemetry collect`)`: 340 rows in the store were
never mentioned, and collecting does not explain them. The skew and how many recent minutes the
fast clock wrote are drawn by hypothesis; the rows are written through ``Store.append`` with the
fast clock as its ``now``, as a collector with that clock writes them."""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from wasmops.ai.verdicts import judge
from wasmops.telemetry import Store, synthesize
from wasmops.telemetry.validate import validate

NOW = pd.Timestamp.now(tz="UTC").floor("min")
HIST = synthesize(modules=2, teams=1, days=2, freq="5min", seed=3, anomaly_rate=0, end=NOW).drop(
    columns=["is_anomaly", "anomaly_kind"])


@settings(max_examples=4, deadline=None, phases=[Phase.explicit, Phase.generate],   # GX per example: no shrinking
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(fast_for_min=st.integers(60, 240), beyond_min=st.integers(5, 3 * 24 * 60))
def test_a_store_with_rows_from_a_fast_clock_says_so(tmp_path_factory, fast_for_min, beyond_min):
    """The fast clock wrote the last ``fast_for_min`` minutes, so far ahead that none of them is in
    the 60-minute window (a smaller skew leaves them in it, within the allowance, and they are
    judged)."""
    ahead_min = fast_for_min + beyond_min
    store = Store(tmp_path_factory.mktemp("skew") / "t.db")
    cut = NOW - pd.Timedelta(minutes=fast_for_min)
    skew = pd.Timedelta(minutes=ahead_min)
    store.append(HIST[HIST["ts"] <= cut], now=NOW)
    fast = HIST[HIST["ts"] > cut].assign(ts=lambda d: d["ts"] + skew)
    store.append(fast, now=NOW + skew)                         # the fast clock accepts its own "now"
    df = store.window(60, now=NOW)
    out = validate(df, freshness_minutes=30, now=NOW)
    seen = store.ahead(NOW)
    future = int((fast["ts"] > NOW + pd.Timedelta(minutes=5)).sum())
    assert seen["future_rows"] == future > 0
    reasons = {v.explanation for v in judge(df, out, None, {}, window_minutes=60, store=seen)}
    assert len(reasons) == 1
    reason = reasons.pop()
    assert f"{future} rows in the store are stamped in the future" in reason and "clock skew" in reason, reason
    assert "run `wasmops telemetry collect`" not in reason, reason
