"""`models train`: `--holdout-days 0` is refused up front, and "nothing trained" names the reason
modules were left out, not always "the minimum history".

Found from outside: `--holdout-days 0` was accepted, every module was left out with `no traffic in
the holdout window`, and the summary said `nothing trained (no module has the minimum history)`."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, strategies as st
from typer.testing import CliRunner

from models.training import nothing_trained, plan_training
from wasmops.telemetry import synthesize


def test_holdout_days_0_is_refused_before_anything_runs(tmp_path, monkeypatch):
    from wasmops.cli import app

    monkeypatch.setenv("WASMOPS_HOME", str(tmp_path / "nowhere"))
    r = CliRunner().invoke(app, ["models", "train", "--holdout-days", "0"])
    assert r.exit_code == 2 and "--holdout-days" in r.output, r.output
    with pytest.raises(ValueError, match="holdout_days 0"):
        plan_training(synthesize(modules=1, days=2), holdout_days=0)


def test_a_plan_whose_holdout_has_no_traffic_says_so():
    hist = synthesize(modules=3, days=20, seed=4, end=pd.Timestamp("2026-06-01T00:00Z"))
    late = hist.tail(1).assign(ts=pd.Timestamp("2026-06-10T00:00Z"), invocations=0, errors=0)   # idle since
    plan = plan_training(pd.concat([hist, late], ignore_index=True), holdout_days=7)
    assert plan.modules == [] and "no traffic in the holdout window" in plan.why_nothing()
    assert "minimum history" not in plan.why_nothing() and "below the minimum" not in plan.summary()


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.sampled_from(
    ["no traffic in the holdout window", "no window with traffic", "3.0 days of history with traffic, fewer "
     "than the minimum 14 days", "constant history"]), max_size=30))
def test_nothing_trained_names_the_commonest_reason(cold):
    msg = nothing_trained(cold)
    if not cold:
        assert "no telemetry" in msg
        return
    counts = pd.Series(list(cold.values())).value_counts()
    assert any(f"{n}: {why}" in msg for why, n in counts.items() if n == counts.max())
    if len(counts) <= 3:                                   # all shown: "minimum" only when a reason says it
        assert ("minimum" in msg) == any("minimum" in why for why in counts.index)
