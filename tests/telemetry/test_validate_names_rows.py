"""A GX failure names the rows it found (series and times), not only the column.

Found from outside: five rows of prod/mod-000 written with fuel -1000 (or latency_p95_ms NaN) made
`wasmops score` hold every module with `telemetry failed validation (1 check):
column_values_to_be_between(fuel)`, and `wasmops telemetry validate` showed `5 of 516 unexpected,
e.g. ['-1000', ...]`: nothing said which module's telemetry was bad, nor when. The rows to
corrupt, their module and the bad value are drawn by hypothesis."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from wasmops.ai.verdicts import judge
from wasmops.telemetry import synthesize
from wasmops.telemetry.validate import validate

NOW = pd.Timestamp("2026-12-07T10:00Z")
SAMPLES = synthesize(modules=3, days=1, seed=5, anomaly_rate=0, end=NOW).drop(columns=["is_anomaly", "anomaly_kind"])
BAD = {"fuel": -1000, "errors": -1, "latency_p95_ms": np.nan, "peak_memory": -5}


@settings(max_examples=4, deadline=None, phases=[Phase.explicit, Phase.generate],   # GX per example: no shrinking
          suppress_health_check=[HealthCheck.too_slow])
@given(module=st.sampled_from(sorted(SAMPLES["module"].unique())), column=st.sampled_from(sorted(BAD)),
       picks=st.lists(st.integers(0, 23), min_size=1, max_size=4, unique=True))
def test_the_failed_check_and_the_hold_name_the_module_and_times(module, column, picks):
    df = SAMPLES.copy()
    rows = df.index[df["module"] == module][sorted(picks)]
    df.loc[rows, column] = BAD[column]
    out = validate(df, freshness_minutes=None, now=NOW)
    assert not out.success
    first = df.loc[rows, "ts"].min().strftime("%Y-%m-%d %H:%M:%S")
    named = [f for f in out.failed if column in (f.get("column") or "")]
    assert named and all(f"prod/{module} {first}" in f.get("rows", "") for f in named), out.failed
    assert all(f"({len(rows)} row" in f["rows"] for f in named), [f["rows"] for f in named]
    assert f"rows: prod/{module} {first}" in out.to_markdown()
    reasons = {v.subject: v.explanation for v in judge(df, out, None, {})}
    assert f"in prod/{module} {first}" in reasons.pop(f"prod/{module}")
    assert reasons and all("failed validation" not in r for r in reasons.values()), reasons   # the others: judged
