"""Issue 17 charts as Prefect artifacts: forecast vs budget (wasmops.finops.forecast_chart) and the
anomaly score with its threshold (models.score_chart). Inputs the code was not shaped around
(hypothesis: empty, one point, NaN, constant, zero / negative budgets) give a PNG that decodes, or a
ValueError naming the field; the tasks' pure markdown builders embed a data:image/png URI."""

from __future__ import annotations

import base64
import io
import re
from datetime import datetime, timezone
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from matplotlib import image as mpimg

from models.score_chart import MAX_POINTS, ScorePanel, downsample, score_chart_png
from wasmops.finops.forecast_chart import BudgetLine, forecast_chart_png

FAST = settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
values = st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(float("nan")), st.just(0.0)), max_size=40)
numbers = st.one_of(st.floats(-1e6, 1e6), st.just(float("nan")), st.just(0.0), st.just(-5.0))


def _decoded(png: bytes) -> np.ndarray:
    img = mpimg.imread(io.BytesIO(png), format="png")
    assert img.shape[0] > 0 and img.shape[1] > 0
    return img


def _ts(n: int, freq: str = "h") -> pd.DatetimeIndex:
    return pd.date_range("2026-03-01", periods=n, freq=freq, tz="UTC")


@FAST
@given(ys=values, forecast=numbers, budget=st.one_of(st.none(), numbers))
def test_forecast_chart_on_generated_series(ys, forecast, budget):
    line = BudgetLine("team x", _ts(len(ys)), ys, forecast, budget, month_end=pd.Timestamp("2026-04-01", tz="UTC"))
    bad = [f for f, v in (("forecast", forecast), ("budget", budget)) if v is not None and v != v]
    if budget is not None and budget == budget and budget <= 0:
        bad.append("budget")
    if bad:
        with pytest.raises(ValueError, match=f"'{bad[0]}'"):
            forecast_chart_png([line])
    else:
        _decoded(forecast_chart_png([line]))


def test_forecast_chart_mismatched_lengths_and_none():
    with pytest.raises(ValueError, match="'cumulative'"):
        forecast_chart_png([BudgetLine("t", _ts(3), [1.0, 2.0], 1.0, 5.0)])
    _decoded(forecast_chart_png([]))
    lines = [BudgetLine("long", _ts(2000, "min"), np.arange(2000.0), 10.0, 3000.0)] + [
        BudgetLine(f"t{i}", _ts(2), [1.0, 1.0], 0.0, None) for i in range(2)]
    _decoded(forecast_chart_png(lines))  # 2000 points thinned to MAX_POINTS; 3 panels in a grid


@FAST
@given(ys=values, threshold=numbers, with_alarms=st.booleans())
def test_score_chart_on_generated_series(ys, threshold, with_alarms):
    alarm = [y == y and y > threshold for y in ys] if with_alarms else None
    p = ScorePanel("dev/m", _ts(len(ys)), ys, threshold, alarm, since=pd.Timestamp("2026-03-01T05:00Z"))
    if threshold != threshold:
        with pytest.raises(ValueError, match="'threshold'"):
            score_chart_png([p])
    else:
        _decoded(score_chart_png([p]))


def test_score_chart_bad_fields_and_downsampling():
    with pytest.raises(ValueError, match="'alarm'"):
        score_chart_png([ScorePanel("m", _ts(3), [1, 2, 3], 1.0, [True])])
    with pytest.raises(ValueError, match="'score'"):
        score_chart_png([ScorePanel("m", _ts(3), [1, 2], 1.0)])
    with pytest.raises(ValueError, match="'threshold'"):
        score_chart_png([ScorePanel("m", _ts(1), [1], "high")])
    _decoded(score_chart_png([]))
    n = 5000
    score = np.zeros(n)
    score[4321] = 9.0
    alarm = score > 1
    ts, s, a = downsample(_ts(n, "min"), score, alarm)
    assert len(s) <= MAX_POINTS and s.max() == 9.0 and a.sum() == 1  # the peak and its alarm survive


def _png_in(markdown: str) -> bytes:
    m = re.search(r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert m, markdown[:300]
    return base64.b64decode(m.group(1))


def test_budget_forecast_artifact_markdown():
    from wasmops.gitops.desired import DesiredState
    from wasmops.finops import attribute
    from wasmops.finops.forecast_chart import budget_forecast_markdown
    from wasmops.gitops.manifest import Budget, PriceSheet

    def budget(name, amount):
        return Budget.model_validate({"kind": "Budget", "metadata": {"name": name}, "spec": {
            "scope": "team", "name": name, "monthlyAmount": amount, "enforcementLevel": "advisory"}})

    sheet = PriceSheet.model_validate({"apiVersion": "wasmops.dev/v1alpha1", "kind": "PriceSheet",
                                       "metadata": {"name": "t"}, "spec": {"prices": [
        {"unit": u, "amount": a, "currency": "USD", "effectiveDate": "2026-01-01"}
        for u, a in (("fuel-million", "0.5"), ("invocations-million", "0.2"), ("memory-gib-hour", "0.1"))]}})
    ts = pd.date_range("2026-03-01T01:00Z", "2026-03-15T19:00Z", freq="6h")  # 60 windows of 3 fuel-million
    samples = pd.DataFrame({"ts": ts, "window_s": 3600, "namespace": "dev", "module": "m",
                            "digest": "sha256:" + "a" * 64, "team": "core", "project": "p", "cost_center": "c",
                            "invocations": 0, "errors": 0, "fuel": 3_000_000, "peak_memory": 0, "memory_limit": 0,
                            "replicas": 1, "latency_p50_ms": 1.0, "latency_p95_ms": 1.0, "fuel_p99_per_call": 0.0,
                            "memory_p99": 0.0})
    desired = DesiredState(revision=None, deployments={}, budgets=[budget("core", "250"), budget("data", "10")],
                           pricing=sheet)
    now = datetime(2026, 3, 16, tzinfo=timezone.utc)
    md = budget_forecast_markdown(desired, attribute(samples, sheet), {"core": Decimal("40")}, now)
    _decoded(_png_in(md))
    assert f"team `core`: spent {len(ts) * 1.5:.2f} + forecast 40.00" in md, md[-400:]
    assert "team `data`: spent 0.00" in md


def test_anomaly_scores_artifact_markdown():
    from models.monitor import monitor
    from models.score_chart import anomaly_scores_markdown

    rng = np.random.default_rng(7)
    ts = _ts(24 * 6, "5min")
    lat = rng.gamma(4.0, 2.0, len(ts))
    lat[-6:] += 200.0  # an incident in the scoring window
    df = pd.concat([pd.DataFrame({"ts": ts, "namespace": "prod", "module": m, "invocations": 100, "errors": 0,
                                  "fuel": 100_000, "latency_p95_ms": lat if m == "slow" else lat[::-1]})
                    for m in ("slow", "calm")] + [
        pd.DataFrame({"ts": ts[:5], "namespace": "dev", "module": "new", "invocations": 1, "errors": 0,
                      "fuel": 1, "latency_p95_ms": 1.0})])
    now = ts[-1]
    verdicts = monitor(df, now=now, window_minutes=60)
    md = anomaly_scores_markdown(df, verdicts, now=now, window_minutes=60)
    _decoded(_png_in(md))
    assert "2 module(s) shown" in md and "`dev/new` hold" in md
