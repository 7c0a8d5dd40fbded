"""A real Prometheus (Debian package) scrapes the host; a PromQL query returns the exact count."""

from __future__ import annotations

import shutil
import subprocess
import time

import httpx
import pytest

from support.host import free_port
from support.wat import FIXTURES


@pytest.fixture()
def prometheus(tmp_path, host):
    binary = shutil.which("prometheus")
    if not binary:
        pytest.fail("prometheus binary missing: `make test` installs the Debian package `prometheus`")
    port = free_port()
    target = host.url.split("://", 1)[1]
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(f"global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: wasmops-host\n"
                   f"    static_configs:\n      - targets: ['{target}']\n")
    proc = subprocess.Popen([binary, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "prom.log", "wb"))
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if api.get("/-/ready").status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("prometheus did not become ready: " + (tmp_path / "prom.log").read_text()[-2000:])
    yield api
    proc.terminate()
    proc.wait(10)


def test_promql_counts_exact_invocations(host, workspace, prometheus):
    ref, digest = workspace.publish_wat("promcount", (FIXTURES / "hostile" / "ok.wat").read_text())
    host.deploy("dev", "promcount", ref=ref, digest=digest, labels={"team": "obs", "project": "prom"})
    for _ in range(17):
        assert host.run("dev", "promcount", b"{}").status_code == 200
    query = 'sum(wasmops_invocations_total{module="promcount",team="obs"})'
    deadline = time.monotonic() + 30
    value = None
    while time.monotonic() < deadline:  # wait for a scrape that saw all 17
        res = prometheus.get("/api/v1/query", params={"query": query}).json()["data"]["result"]
        value = float(res[0]["value"][1]) if res else None
        if value == 17:
            break
        time.sleep(0.2)
    assert value == 17
