"""`wasmops down` and `status` act only on processes `up` started: a stale services.json (after a
reboot, the pid given to another process) named an unrelated process, and `down` killed it."""

from __future__ import annotations

import json
import subprocess
import sys

from wasmops.config import Settings
from wasmops.procs import start_time
from wasmops.services import Services


def _record(s: Settings, name: str, proc, started):
    svc = Services(s)
    entry = {"name": name, "pid": proc.pid, "url": "http://127.0.0.1:9", "health": "http://127.0.0.1:9", "log": "x"}
    if started is not None:
        entry["started"] = started
    svc.record.write_text(json.dumps({"services": {name: entry}}))
    return svc


def test_a_reused_pid_is_not_ours_and_down_leaves_it_alone(tmp_path):
    s = Settings(home=tmp_path / "ws")
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        for started in (None, 1):        # a record older than start times; a start time that differs
            svc = _record(s, "prefect", stranger, started)
            assert svc.running() == {} and svc.stop() == []
            assert stranger.poll() is None                      # still alive
        ours = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
        try:
            svc = _record(s, "host", ours, start_time(ours.pid))
            assert set(svc.running()) == {"host"} and svc.stop() == ["host"]
            assert ours.wait(10) is not None
        finally:
            ours.kill()
    finally:
        stranger.kill()


def test_a_running_service_that_does_not_answer_is_not_reported_healthy(tmp_path):
    """`up` printed ✓ for a host stopped with SIGSTOP: a recorded service must answer its health check."""
    import pytest

    from wasmops.errors import TransientError

    s = Settings(home=tmp_path / "ws")
    hung = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        svc = _record(s, "host", hung, start_time(hung.pid))          # its health URL: a closed port
        with pytest.raises(TransientError, match=f"host runs \\(pid {hung.pid}\\) but does not answer") as e:
            svc._spawn("host", ["true"], "http://127.0.0.1:9", "http://127.0.0.1:9", timeout=1)
        assert "wasmops down" in e.value.hint
    finally:
        hung.kill()
