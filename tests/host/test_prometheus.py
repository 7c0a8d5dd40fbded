"""A real Prometheus (Debian package) scrapes the host; a PromQL query returns the exact count."""

from __future__ import annotations

import time

import httpx

from support.prometheus import prometheus  # noqa: F401  (fixture)
from support.wat import FIXTURES


def test_promql_counts_exact_invocations(host, workspace, prometheus):
    ref, digest = workspace.publish_wat("promcount", (FIXTURES / "hostile" / "ok.wat").read_text())
    host.deploy("dev", "promcount", ref=ref, digest=digest, labels={"team": "obs", "project": "prom"})
    for _ in range(17):
        assert host.run("dev", "promcount", b"{}").status_code == 200
    query = 'sum(wasmops_invocations_total{module="promcount",team="obs"})'
    deadline = time.monotonic() + 30
    value = None
    while time.monotonic() < deadline:  # wait for a scrape that saw all 17
        res = httpx.get(f"{prometheus}/api/v1/query", params={"query": query}).json()["data"]["result"]
        value = float(res[0]["value"][1]) if res else None
        if value == 17:
            break
        time.sleep(0.2)
    assert value == 17
