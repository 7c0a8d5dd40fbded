"""`wasmops reconcile -n NS` with a namespace in neither Git nor the host is an error naming the
namespaces there are (found from outside: `-n stagin` printed an empty plan and exited 0)."""

from __future__ import annotations

import subprocess

from support.host import REPO, WASMOPS, HostProcess, make_workspace


def test_a_namespace_nobody_has_is_refused_and_a_real_one_is_not(tmp_path):
    ws = make_workspace(tmp_path / "ws")
    hp = HostProcess(ws)
    url = hp.start("--workers", "1").url
    env = {**ws.env, "WASMOPS_HOST_URL": url, "COLUMNS": "200"}
    try:
        def run(*args):
            return subprocess.run([WASMOPS, "reconcile", "--dry-run", *args], cwd=REPO, env=env,
                                  capture_output=True, text=True, timeout=120)
        typo = run("-n", "stagin")
        assert typo.returncode == 1, typo.stdout + typo.stderr
        assert "'stagin'" in typo.stderr and "dev" in typo.stderr and "prod" in typo.stderr, typo.stderr
        both = run("-n", "dev", "-n", "stagin")
        assert both.returncode == 1 and "'stagin'" in both.stderr and "'dev'" not in both.stderr, both.stderr
        ok = run("-n", "dev")
        assert "no module in namespace" not in ok.stderr, ok.stderr
        assert "plan" in ok.stdout, ok.stdout + ok.stderr
    finally:
        hp.stop()
