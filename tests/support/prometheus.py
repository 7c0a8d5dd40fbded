"""Fixture ``prometheus``: a real Prometheus (Debian package) scraping the test host every second."""

from __future__ import annotations

import shutil
import subprocess
import time

import httpx
import pytest

from wasmops.services import free_port


@pytest.fixture()
def prometheus(tmp_path, host):
    """Yields the Prometheus base URL once it is ready."""
    binary = shutil.which("prometheus")
    if not binary:
        pytest.fail("prometheus binary missing: `make test` installs the Debian package `prometheus`")
    port = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: wasmops-host\n"
                   f"    static_configs:\n      - targets: ['{host.url.split('://', 1)[1]}']\n")
    proc = subprocess.Popen([binary, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "prom.log", "wb"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/-/ready").status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("prometheus did not become ready: " + (tmp_path / "prom.log").read_text()[-2000:])
    yield url
    proc.terminate()
    proc.wait(10)
