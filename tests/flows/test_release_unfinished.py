"""A release killed after verify (during its AI check) left its digest serving, unjudged, and the same
command then said "nothing to do": a x3 regression stayed live. The re-run now finishes the release:
it judges the serving digest against the one before it and rolls it back.

The module is written here: it spins ``N`` times, then prints ``ok``; v2 spins three times as long.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


from support.gitops_helpers import add_manifest
from support.host import WASMOPS
from support.wat import spin_module

CRASH_AT = Path(__file__).resolve().parents[1] / "support" / "crash_at.py"


def _module(d, n: int):
    return spin_module(d, n, "spin-unfinished")


def _release(ws, module_dir, api_url, crash_at: str | None = None) -> subprocess.CompletedProcess:
    env = {**ws.env, "PREFECT_API_URL": api_url, "COLUMNS": "300"}
    cmd = [sys.executable, str(CRASH_AT), crash_at] if crash_at else [WASMOPS]
    return subprocess.run([*cmd, "release", str(module_dir), "--target", "dev/spin-unfinished", "--auto-approve"],
                          env=env, capture_output=True, text=True, timeout=600)


def test_a_release_killed_during_its_ai_check_is_judged_by_the_rerun(flow_env, tmp_path, prefect_api):
    ws, host, _ = flow_env
    mod = _module(tmp_path / "spin", 20_000)
    add_manifest(ws, "dev/spin-unfinished", str(mod))
    first = _release(ws, mod, prefect_api)
    assert first.returncode == 0, first.stdout + first.stderr
    v1 = _serving(host)

    _module(mod, 60_000)                                       # x3 the work per request
    killed = _release(ws, mod, prefect_api, crash_at="ai-sample")
    assert killed.returncode < 0, killed.stdout + killed.stderr
    v2 = _serving(host)
    assert v2 != v1                                            # the regression serves, unjudged

    again = _release(ws, mod, prefect_api)
    out = again.stdout + again.stderr
    assert "nothing to do" not in out and again.returncode == 1, out
    assert "rolled back" in out and "fuel_per_call" in out, out
    assert _serving(host) == v1


def _serving(host) -> str:
    return {m["name"]: m for m in host.modules() if m["namespace"] == "dev"}["spin-unfinished"]["digest"]
