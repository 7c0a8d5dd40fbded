"""A second host on the same workspace (a fleet host, `--state` elsewhere) is reached with the
workspace's host token, and neither starting it nor failing to start a third repoints the workspace.

Found from outside: without ``$WASMOPS_HOST_TOKEN`` every fleet release failed with 401 after its
commit, and a canary abort's DELETE was refused while the CLI said "aborted"; any `wasmops host`
run, even one whose port was taken, rewrote ``host.json``, and the workspace's reconciler then
deployed onto a fleet host outside its selector.
"""

from __future__ import annotations

import json
import subprocess

from support.host import WASMOPS, HostProcess, make_workspace


def test_fleet_host_token_and_the_workspace_endpoint(tmp_path, monkeypatch):
    monkeypatch.delenv("WASMOPS_HOST_TOKEN", raising=False)
    ws = make_workspace(tmp_path / "ws")
    own, fleet = HostProcess(ws), HostProcess(ws)
    own_url = own.start("--workers", "1").url
    try:
        recorded = json.loads((ws.home / "host.json").read_text())["url"]
        assert recorded == own_url
        fleet_url = fleet.start("--workers", "1", "--state", str(tmp_path / "fleet-a")).url
        assert json.loads((ws.home / "host.json").read_text())["url"] == own_url     # not repointed

        busy = subprocess.run([WASMOPS, "host", "--port", str(fleet.port), "--workers", "1", "--state",
                               str(tmp_path / "fleet-b")], env=ws.env, capture_output=True, text=True, timeout=60)
        assert busy.returncode == 1 and f"127.0.0.1:{fleet.port}" in busy.stderr, busy.stderr
        assert "Traceback" not in busy.stderr
        assert json.loads((ws.home / "host.json").read_text())["url"] == own_url

        from tasks.release import _host
        from wasmops.config import Settings

        assert _host(Settings(home=ws.home), fleet_url).modules() == []            # no 401
    finally:
        fleet.stop()
        own.stop()
