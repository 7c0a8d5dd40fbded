"""The GX telemetry suite: good data passes; each kind of bad data fails with the check that names it."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from wasmops.telemetry import schema, synthesize, validate
from wasmops.telemetry.validate import SUITE_PATH, load_suite, schema_expectations

NOW = pd.Timestamp("2025-06-01T12:00:00Z")


@pytest.fixture(scope="module")
def good():
    return synthesize(modules=5, teams=2, days=7, seed=2, anomaly_rate=0.02, end=NOW - pd.Timedelta(minutes=5))


def test_good_synthetic_data_passes_with_freshness(good):
    out = validate(good, freshness_minutes=30, now=NOW)
    assert out.success, out.to_markdown()
    assert out.failed == [] and out.stats["evaluated"] == out.stats["successful"] >= 50
    assert out.result_id == "sha256:" + hashlib.sha256(
        json.dumps(out.result, sort_keys=True, default=str).encode()).hexdigest()
    md = out.to_markdown()
    assert "✅" in md and "| ✓ | compound_columns_to_be_unique |" in md and "✗" not in md


def test_historic_data_passes_with_freshness_off_and_real_data_without_label_columns(good):
    old = synthesize(modules=3, days=2, seed=1)  # 2025-01: stale on purpose
    assert validate(old, freshness_minutes=None).success
    plain = schema.coerce(good, labels=False)
    out = validate(plain, freshness_minutes=30, now=NOW)
    assert out.success and not any(c["column"] in ("is_anomaly", "anomaly_kind") for c in out.checks)


def _null_team(df):
    df = df.copy()
    df["team"] = df["team"].astype(object)
    df.loc[3, "team"] = None
    return df.astype({"team": "str"})


def _null_latency(df):
    df = df.copy()
    df.loc[7, "latency_p95_ms"] = np.nan
    return df


def _negative(df):
    df = df.copy()
    df.loc[10, "invocations"] = -5
    df.loc[10, "errors"] = 0
    return df


def _duplicate(df):
    return pd.concat([df, df.iloc[[4]]], ignore_index=True)


def _float_invocations(df):
    return df.astype({"invocations": "float64"})


def _naive_ts(df):
    return df.assign(ts=df["ts"].dt.tz_localize(None))


def _too_many_errors(df):
    df = df.copy()
    df.loc[2, "errors"] = df.loc[2, "invocations"] + 1
    return df


def _memory_over_limit(df):
    df = df.copy()
    df.loc[6, "peak_memory"] = int(df.loc[6, "memory_limit"] * 1.5)
    return df


def _set(col, value):
    def mutate(df):
        df = df.copy()
        df.loc[3, col] = value
        return df
    return mutate


def _missing_column(df):
    return df.drop(columns=["fuel"])


BAD = {
    "null in a str column": (_null_team, {}, ("expect_column_values_to_not_be_null", "team")),
    "null in a float column": (_null_latency, {}, ("expect_column_values_to_not_be_null", "latency_p95_ms")),
    "negative invocations": (_negative, {}, ("expect_column_values_to_be_between", "invocations")),
    "duplicate (module, ts)": (_duplicate, {}, ("expect_compound_columns_to_be_unique", "namespace, module, digest, ts")),
    "stale data": (lambda d: d, {"now": NOW + pd.Timedelta(hours=3)}, ("expect_column_max_to_be_between", "ts")),
    "too few rows": (lambda d: d.head(20), {"min_rows": 100}, ("expect_table_row_count_to_be_between", None)),
    "wrong dtype (float counts)": (_float_invocations, {}, ("expect_column_values_to_be_of_type", "invocations")),
    "naive timestamps": (_naive_ts, {}, ("expect_column_values_to_be_of_type", "ts")),
    "errors above invocations": (_too_many_errors, {},
                                 ("expect_column_pair_values_a_to_be_greater_than_b", "invocations, errors")),
    "memory above the limit": (_memory_over_limit, {}, ("expect_column_values_to_be_null", "peak_memory")),
    "missing column": (_missing_column, {}, ("expect_table_columns_to_match_set", None)),
    # an infinite or absurd value passed every check (only lower bounds); nothing finite is refused
    "infinite p95 latency": (_set("latency_p95_ms", float("inf")), {}, ("expect_column_values_to_be_between", "latency_p95_ms")),
    "p50 latency of 30 years": (_set("latency_p50_ms", 1e12), {}, ("expect_column_values_to_be_between", "latency_p50_ms")),
    "infinite fuel per call": (_set("fuel_p99_per_call", float("inf")), {},
                               ("expect_column_values_to_be_between", "fuel_p99_per_call")),
    "infinite memory p99": (_set("memory_p99", float("inf")), {}, ("expect_column_values_to_be_between", "memory_p99")),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_data_fails_naming_the_check(good, case):
    mutate, kw, expected = BAD[case]
    out = validate(mutate(good), **{"freshness_minutes": 30, "now": NOW, **kw})
    assert not out.success
    assert expected in out.failed_checks(), out.to_markdown()
    md = out.to_markdown()
    assert "❌" in md and "| ✗ |" in md
    if case == "negative invocations":
        (f,) = [f for f in out.failed if (f["type"], f["column"]) == expected]
        assert "1 of" in f["observed"] and "-5" in f["observed"]


def test_suite_json_holds_every_schema_column_and_type():
    suite = load_suite(SUITE_PATH)
    have = [{"type": e["type"], "kwargs": e["kwargs"]} for e in suite["expectations"]]
    for e in schema_expectations():
        assert e in have, f"expectations/telemetry.json lacks {e}"
    assert any(e["kwargs"].get("min_value") == {"$PARAMETER": "freshness_min_ts"} for e in have)
