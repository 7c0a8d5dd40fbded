"""Real operations data as telemetry: NAB realAWSCloudwatch series (MIT licence), each one module's
p95 latency per 5-minute window, ending at a given time; and the ways a stored row can be bad."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from wasmops.telemetry import schema

NAB = Path(__file__).resolve().parents[3] / "shared" / "data" / "nab" / "data" / "realAWSCloudwatch"
SERIES = {"cpu-a": "ec2_cpu_utilization_5f5533.csv", "cpu-b": "ec2_cpu_utilization_24ae8d.csv",
          "cpu-c": "ec2_cpu_utilization_825cc2.csv"}
#: rows the store accepts and the GX suite rejects (a NaN never reaches the store: NOT NULL)
KINDS = ("negative_fuel", "errors_over_calls", "p95_below_p50", "absurd_window", "negative_latency",
         "memory_over_limit", "infinite_latency", "infinite_fuel_per_call", "latency_of_years")


def nab_modules(end: pd.Timestamp) -> pd.DataFrame:
    """Every series of :data:`SERIES` as a module (all 4,032 windows, the last ending at ``end``)."""
    if not NAB.exists():
        raise FileNotFoundError(f"NAB data missing under {NAB}")
    parts = []
    for i, name in enumerate(SERIES):
        lat = pd.read_csv(NAB / SERIES[name])["value"].to_numpy(dtype=float)
        parts.append(pd.DataFrame({
            "ts": pd.date_range(end=end.floor("5min"), periods=len(lat), freq="5min"), "window_s": 300.0,
            "namespace": "prod", "module": name, "digest": f"sha256:{i:064x}", "team": "ops", "invocations": 100,
            "errors": 0, "fuel": 100_000, "peak_memory": 1 << 20, "memory_limit": 1 << 24,
            "latency_p50_ms": lat / 2, "latency_p95_ms": lat}))
    return schema.coerce(pd.concat(parts, ignore_index=True), labels=False)


def corrupt(row: pd.Series, kind: str) -> pd.Series:
    """``row`` made bad in the way ``kind`` names (one of :data:`KINDS`)."""
    row = row.copy()
    if kind == "negative_fuel":
        row["fuel"] = -1000
    elif kind == "errors_over_calls":
        row["errors"] = row["invocations"] + 7
    elif kind == "p95_below_p50":
        row["latency_p50_ms"] = row["latency_p95_ms"] + 50
    elif kind == "absurd_window":
        row["window_s"] = 1e9
    elif kind == "negative_latency":
        row["latency_p50_ms"], row["latency_p95_ms"] = -1e6, -5e5
    elif kind == "infinite_latency":
        row["latency_p95_ms"] = float("inf")
    elif kind == "infinite_fuel_per_call":
        row["fuel_p99_per_call"] = float("inf")
    elif kind == "latency_of_years":
        row["latency_p50_ms"] = row["latency_p95_ms"] = 1e12
    else:
        row["peak_memory"] = row["memory_limit"] * 3
    return row
