"""`wasmops up` after `wasmops host &` (the README's quickstart runs both, in that order).

`up` started a second host on the workspace's state directory and repointed the workspace at it;
the first host kept serving modules that were rolled back and quarantined through the second one.
Now `up` uses a host that already serves the workspace, and says so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from wasmops.config import Settings
from wasmops.services import Services, free_port

WASMOPS = str(Path(sys.executable).with_name("wasmops"))


def _env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WASMOPS_", "PREFECT_"))}
    return {**env, "WASMOPS_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


@pytest.fixture
def hand_host(tmp_path):
    """A workspace and its `wasmops host` started by hand, as the README does."""
    home = tmp_path / "ws"
    subprocess.run([WASMOPS, "init"], env=_env(home), check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen([WASMOPS, "host", "--workers", "1", "--port", str(port)], env=_env(home),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    try:
        yield home, url
    finally:
        proc.terminate()
        proc.wait(15)


def test_another_host_port_is_refused_in_one_line(hand_host):
    home, url = hand_host
    other = free_port()
    p = subprocess.run([WASMOPS, "up", "--no-serve", "--no-mlflow", "--host-port", str(other),
                        "--prefect-port", str(free_port())], env=_env(home), capture_output=True, text=True,
                       timeout=120)
    if p.returncode == 0:                     # it started things after all: stop them
        subprocess.run([WASMOPS, "down"], env=_env(home), capture_output=True, timeout=60)
    assert p.returncode != 0
    assert f"already runs at {url}" in p.stderr and "--host-port" in p.stderr
    assert Services(Settings(home=home)).running() == {}                 # nothing started
    assert json.loads((home / "host.json").read_text())["url"] == url


def test_another_workspaces_host_is_not_taken_for_ours(hand_host, tmp_path):
    """The same URL, but the host answers another workspace's token: not ours, so `up` starts its own."""
    from wasmops.cli.ops import _hand_started_host

    _, url = hand_host
    mine = Settings(home=tmp_path / "mine")
    subprocess.run([WASMOPS, "init"], env=_env(mine.home), check=True, capture_output=True)
    (mine.home / "host.json").write_text(json.dumps({"url": url, "token_file": str(mine.home / "host" / "token")}))
    (mine.home / "host" / "token").parent.mkdir(parents=True, exist_ok=True)
    (mine.home / "host" / "token").write_text("not-the-token-of-that-host\n")
    assert _hand_started_host(Services(mine), mine, None) is None


def test_up_uses_the_running_host_instead_of_starting_a_second(hand_host):
    home, url = hand_host
    env = _env(home)
    p = subprocess.run([WASMOPS, "up", "--no-serve", "--no-mlflow", "--prefect-port", str(free_port())],
                       env=env, capture_output=True, text=True, timeout=180)
    try:
        assert p.returncode == 0, p.stdout + p.stderr
        assert f"host     {url}" in p.stdout and "already running" in p.stdout
        assert "host" not in Services(Settings(home=home)).running()
        assert json.loads((home / "host.json").read_text())["url"] == url
    finally:
        subprocess.run([WASMOPS, "down"], env=env, capture_output=True, timeout=60)
    assert httpx.get(f"{url}/readyz", timeout=2).status_code == 200    # `down` left the hand-started host


def test_status_names_the_host_it_read_when_up_did_not_start_it(hand_host):
    """`status` listed live modules with no word of which host served them, and its services table
    has no row for a host started by hand."""
    home, url = hand_host
    p = subprocess.run([WASMOPS, "status"], env={**_env(home), "COLUMNS": "200"}, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"no live modules on {url}" in p.stdout
    data = json.loads(subprocess.run([WASMOPS, "status", "--json"], env=_env(home), capture_output=True,
                                     text=True, timeout=60).stdout)
    assert data["host_url"] == url and data["modules"] == []
