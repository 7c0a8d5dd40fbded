"""A whole stack brought up with `wasmops up` in a fresh workspace, shared by the operations tests."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from support import prefect_api
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

    def scheduled_deployments(self) -> dict[str, str]:
        """Deployment name -> id of the served deployments that have a schedule."""
        r = prefect_api.post(f"{self.api}/deployments/filter", json={}, timeout=60)
        r.raise_for_status()
        return {d["name"]: d["id"] for d in r.json() if d.get("schedules")}

    def schedules(self, active: bool, names: list[str] | None = None) -> None:
        """Pause (or resume) the schedules of the served deployments (all, or ``names``). The stack lives
        through the whole package; its schedules at WASMOPS_SCHEDULE_SCALE would start a flow-run
        process every few seconds all along (a collect-telemetry every 18 s), CPU the tests beside it
        need. Only the test of the schedules themselves turns one on. Event triggers still run."""
        for name, dep in self.scheduled_deployments().items():
            if names is None or name in names:
                r = prefect_api.post(f"{self.api}/deployments/{dep}/{'resume' if active else 'pause'}_deployment", timeout=60)
                r.raise_for_status()


@pytest.fixture(scope="package")
def stack(tmp_path_factory):
    from test_agent_support import wait_for

    st = Stack(tmp_path_factory.mktemp("stack"))
    from wasmops.services import free_port

    ports = {name: free_port() for name in ("prefect", "mlflow", "host")}   # not the defaults: a person's stack may hold them
    out = st.wasmops("up", *(a for n, p in ports.items() for a in (f"--{n}-port", p)), timeout=300).stdout
    assert all(f":{p}" in out for p in ports.values()), out
    # `serve` registers the prefect.yaml deployments a moment after `up` returns
    wait_for("the served deployments with schedules", lambda: {"collect-telemetry", "reconcile", "score"}
             <= set(st.scheduled_deployments()), 240, 0.5)
    st.schedules(active=False)
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
