"""`wasmops telemetry synth` writes history the way the store holds real telemetry at its end: up to
the current minute, in 1-minute windows (what `telemetry collect` writes), so `wasmops score` with
its defaults (the last 60 minutes, fresh within 30, at least 2 windows) judges it.

Found from outside: synth wrote hourly windows ending at the last whole hour; a 60-minute score
window held one window (`1 window(s) with traffic; at least 2 needed`) and the newest row was up
to 59 minutes old, so the documented synth → train → score held every module."""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings, strategies as st

from wasmops.telemetry import Store, synthesize_to_now

_now = st.datetimes(min_value=pd.Timestamp("2024-01-01").to_pydatetime(),
                    max_value=pd.Timestamp("2030-12-31").to_pydatetime()).map(lambda t: pd.Timestamp(t, tz="UTC"))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(now=_now, modules=st.integers(1, 4), seed=st.integers(0, 50))
def test_the_last_hour_is_in_minute_windows_up_to_now_for_every_module(tmp_path_factory, now, modules, seed):
    df = synthesize_to_now(modules=modules, teams=2, days=2, seed=seed, now=now)
    store = Store(tmp_path_factory.mktemp("s") / "telemetry.db")
    store.append(df, now=now)
    assert store.latest_ts(now=now) == now.floor("min")                         # fresh at any freshness limit ≥ 1
    recent = store.window(60, now=now)
    per_module = recent.groupby("module").size()
    assert len(per_module) == modules and (per_module >= 59).all()               # score's min_windows is 2
    assert set(recent["window_s"]) == {60.0}
    assert df.groupby("module")["digest"].nunique().eq(1).all()                 # one series per module, both parts
    assert df.groupby("module")["team"].nunique().eq(1).all()
    assert not df.duplicated(["module", "ts"]).any()
