"""A whole stack brought up with `wasmops up` in a fresh workspace, shared by the operations tests."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from support.host import REPO, WASMOPS


class Stack:
    def __init__(self, home):
        self.home = home
        self.env = {**os.environ, "WASMOPS_HOME": str(home), "WASMOPS_SCHEDULE_SCALE": "0.3",
                    "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
                    "PREFECT_SERVER_SERVICES_SCHEDULER_MIN_RUNS": "3", "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
        for k in ("PREFECT_API_URL", "PREFECT_HOME", "PREFECT_LOCAL_STORAGE_PATH", "WASMOPS_HOST_URL"):
            self.env.pop(k, None)

    def wasmops(self, *args, check=0, timeout=600):
        p = subprocess.run([WASMOPS, *map(str, args)], env=self.env, cwd=REPO, capture_output=True, text=True,
                           timeout=timeout)
        if check is not None:
            assert p.returncode == check, f"wasmops {' '.join(map(str, args))}: {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p

    @property
    def services(self) -> dict:
        return json.loads((self.home / "services.json").read_text())

    @property
    def api(self) -> str:
        return self.services["prefect_api_url"]


@pytest.fixture(scope="package")
def stack(tmp_path_factory):
    st = Stack(tmp_path_factory.mktemp("stack"))
    st.wasmops("up", timeout=300)
    yield st
    st.wasmops("down", check=None)


@pytest.fixture(scope="package")
def fleet(tmp_path_factory):
    """The network-namespace fleet (tests/support/netns.py): edge-1, edge-2 (env=edge), core-1 (env=core),
    each with its host and agent; git daemon and docker-registry on the bridge. Shared by the netns
    tests (each uses its own module keys); skipped with the reason where namespaces are impossible."""
    from support.netns import net_fleet, netns_unavailable

    why = netns_unavailable()
    if why:
        pytest.skip(f"network namespaces are impossible here, so the fleet cannot have its own addresses: {why}")
    mp = pytest.MonkeyPatch()
    mp.setenv("WASMOPS_REGISTRY_INSECURE", "1")        # this process publishes to the bridge address over HTTP
    try:
        with net_fleet(tmp_path_factory.mktemp("netns-fleet"),
                       [("edge-1", "env=edge"), ("edge-2", "env=edge"), ("core-1", "env=core")]) as f:
            yield f
    finally:
        mp.undo()
