"""PrometheusQuery against a real Prometheus (Debian package) scraping the host: the PromQL is valid."""

from __future__ import annotations

import time

import pandas as pd

from support.prometheus import prometheus  # noqa: F401  (fixture)
from wasmops.telemetry import PrometheusQuery, schema


def _wait_for(pq, query, ok, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # poll Prometheus until its scrapes show the event
        got = pq.query(query, pd.Timestamp.now(tz="UTC"))
        if got and ok(max(got.values())):
            return
        time.sleep(0.2)
    raise AssertionError(f"prometheus never satisfied {query}")


def test_promql_window_samples_from_a_real_prometheus(host, deploy, prometheus):
    digest = deploy("pq-mod", labels={"team": "obs", "project": "pq", "cost_center": "cc-9"})
    pq = PrometheusQuery(prometheus)
    sel = 'wasmops_invocations_total{module="pq-mod"}'
    assert host.run("tel", "pq-mod", b"{}").status_code == 200  # the series exists from here on
    # At least 4 scrapes before the traffic, so increase()'s extrapolation stays within ~1.5x.
    _wait_for(pq, f"count_over_time({sel}[2m])", lambda n: n >= 4)
    for _ in range(40):
        assert host.run("tel", "pq-mod", b"{}").status_code == 200
    _wait_for(pq, sel, lambda v: v == 41)
    rows = pq.collect(120, modules=host.modules())
    (r,) = [r for r in rows if r["module"] == "pq-mod"]
    assert r["digest"] == digest and (r["team"], r["cost_center"]) == ("obs", "cc-9")
    assert 40 <= r["invocations"] <= 80, r  # increase() extrapolates to the window's edges: an estimate
    assert r["latency_p95_ms"] > 0 and r["fuel_p99_per_call"] > 0 and r["memory_limit"] == 4 * 2**20
    assert r["peak_memory"] == 65536 and r["errors"] == 0
    assert schema.check_dtypes(schema.to_frame(rows)) == []
