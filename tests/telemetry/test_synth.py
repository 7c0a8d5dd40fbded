"""Synthetic telemetry: deterministic, seasonal, team-shaped, with labelled anomalies at the asked rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wasmops.telemetry import ANOMALY_KINDS, inject_release_regression, schema, synthesize


@pytest.fixture(scope="module")
def df():
    return synthesize(modules=12, teams=4, days=28, seed=7, anomaly_rate=0.0)


def test_same_seed_same_frame_other_seed_other_frame():
    a, b = synthesize(modules=5, days=7, seed=3), synthesize(modules=5, days=7, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not a["invocations"].equals(synthesize(modules=5, days=7, seed=4)["invocations"])


def test_schema_and_sane_values(df):
    assert schema.check_dtypes(df) == [] and list(df.columns) == schema.COLUMNS + ["is_anomaly", "anomaly_kind"]
    assert (df["errors"] <= df["invocations"]).all() and (df["peak_memory"] <= df["memory_limit"]).all()
    busy = df[df["invocations"] > 0]
    assert (busy["latency_p95_ms"] >= busy["latency_p50_ms"]).all() and (busy["memory_p99"] <= busy["peak_memory"]).all()
    assert df["digest"].str.match(r"^sha256:[0-9a-f]{64}$").all()
    assert df.groupby("module")["digest"].nunique().eq(1).all()


def test_daily_profile_repeats_week_to_week(df):
    hour = df["ts"].dt.hour
    week = (df["ts"] - df["ts"].min()).dt.days // 7
    prof = df.assign(hour=hour, week=week).pivot_table(index=["module", "hour"], columns="week", values="invocations")
    corr = [np.corrcoef(g[0], g[3])[0, 1] for _, g in prof.groupby(level="module")]
    assert min(corr) > 0.8  # same shape in week 1 and week 4 for every module
    ratio = df.groupby("module")["invocations"].agg(lambda s: s.max() / max(s.median(), 1))
    assert (ratio > 1.3).all()  # and a real daily swing, not flat noise


def test_teams_differ_in_scale_peak_hour_and_weekends(df):
    d = df.assign(hour=df["ts"].dt.hour, weekend=df["ts"].dt.day_of_week >= 5)
    team_hour = d.groupby(["team", "hour"])["invocations"].mean().unstack()
    assert team_hour.idxmax(axis=1).nunique() >= 3  # different peak hours
    per_team = d.groupby("team")["invocations"].mean()
    assert per_team.max() / per_team.min() > 1.5  # different sizes
    wk = d.groupby(["team", "weekend"])["invocations"].mean().unstack()
    assert ((wk[True] / wk[False]) - 1).abs().max() > 0.2  # weekends differ from weekdays


def test_anomalies_are_labelled_at_the_rate_and_really_anomalous():
    d = synthesize(modules=20, days=28, anomaly_rate=0.05, seed=11)
    assert 0.04 < d["is_anomaly"].mean() < 0.06
    assert set(d.loc[d["is_anomaly"], "anomaly_kind"]) == set(ANOMALY_KINDS)
    assert (d.loc[~d["is_anomaly"], "anomaly_kind"] == "").all()
    med = d[~d["is_anomaly"]].groupby("module").agg(
        fpc=("fuel", "sum"), inv=("invocations", "sum"), lat=("latency_p50_ms", "median"))
    fpc = (med["fpc"] / med["inv"]).reindex(d["module"]).to_numpy()
    lat = med["lat"].reindex(d["module"]).to_numpy()
    kind = d["anomaly_kind"].to_numpy()
    assert (d["fuel"] / d["invocations"])[kind == "fuel_spike"].div(fpc[kind == "fuel_spike"]).min() > 3
    assert (d["latency_p50_ms"][kind == "latency_regression"] / lat[kind == "latency_regression"]).median() > 3
    assert (d["peak_memory"] / d["memory_limit"])[kind == "memory_blowup"].min() >= 0.89
    assert (d["errors"] / d["invocations"])[kind == "error_burst"].min() >= 0.19


def test_a_million_rows():
    big = synthesize(modules=500, days=84, seed=1)
    assert big.shape == (1_008_000, 20) and schema.check_dtypes(big) == []


def test_release_regression_switches_digest_and_degrades_from_start(df):
    start = df["ts"].min() + pd.Timedelta(days=20)
    bad = "sha256:" + "b" * 64
    out = inject_release_regression(df, "mod-003", bad, start, factor=4.0)
    mine = (out["module"] == "mod-003").to_numpy()
    after = mine & (out["ts"] >= start).to_numpy()
    assert (out.loc[after, "digest"] == bad).all() and (out.loc[mine & ~after, "digest"] != bad).all()
    assert np.allclose(out.loc[after, "latency_p95_ms"], df.loc[after, "latency_p95_ms"] * 4)
    assert (out.loc[after, "anomaly_kind"] == "release_regression").all() and out.loc[after, "is_anomaly"].all()
    pd.testing.assert_frame_equal(out[~after], df[~after])
    assert schema.check_dtypes(out) == []
    with pytest.raises(ValueError):
        inject_release_regression(df, "no-such-module", bad, start)


def test_end_anchors_the_last_window():
    end = pd.Timestamp("2025-05-01T10:00:00Z")
    d = synthesize(modules=2, days=1, freq="15min", end=end)
    assert d["ts"].max() == end and len(d) == 2 * 96 and (d["window_s"] == 900).all()
