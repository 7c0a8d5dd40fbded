"""`wasmops worker` without a reachable Prefect server says so in one line. Workers that join a pool and
run releases (two at once, on machines of their own) are tested in tests/ops/test_control_plane_netns.py."""

from __future__ import annotations

import subprocess

from support.host import REPO, WASMOPS
from wasmops.services import free_port


def test_a_worker_without_a_server_says_so(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API_URL", "WASMOPS_"))}
    env["WASMOPS_HOME"] = str(tmp_path)
    p = subprocess.run([WASMOPS, "worker"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "PREFECT_API_URL: a worker needs a Prefect server" in p.stderr, p.stderr
    dead = f"http://127.0.0.1:{free_port()}/api"               # nothing listens there
    p = subprocess.run([WASMOPS, "worker"], env={**env, "PREFECT_API_URL": dead}, cwd=REPO, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 1 and f"{dead}: cannot reach the Prefect server" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
