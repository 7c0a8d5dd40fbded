"""`wasmops worker`: two workers join a process work pool that the first one creates; flow runs of a
deployment on the pool run on the workers, two releases of different modules at the same time on
different workers, each inside its module's lock. Uses the stack that `wasmops up` started."""

from __future__ import annotations

import subprocess
import textwrap
import uuid

import pytest

from support.host import REPO, WASMOPS
from wasmops.services import free_port

FLOW = '''
import os
import time
from pathlib import Path

from prefect import flow

from flows._concurrency import module_lock


@flow(name="fake-release", persist_result=False)
def fake_release(namespace: str, name: str, other: str, marks: str) -> int:
    """Holds its module's lock and waits until the other module's run is inside its own lock too:
    only two runs that really run at the same time (on two workers with --limit 1) can both finish."""
    with module_lock(namespace, name):
        Path(marks, f"in-{name}").write_text(str(os.getpid()))
        deadline = time.monotonic() + 120
        while not Path(marks, f"in-{other}").exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{other} never ran beside {name}")
            time.sleep(0.2)
    return os.getpid()
'''


def _workers(api: str, pool: str) -> list[str]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return sorted(w.name for w in client.read_workers_for_work_pool(pool))


@pytest.fixture()
def api(stack):
    """This test process's Prefect client talks to the stack's server (settings are read at import,
    so an environment variable set now would be ignored)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: stack.api}):
        yield stack.api


def test_two_workers_run_releases_of_two_modules_at_the_same_time(stack, api, tmp_path):
    from prefect.deployments import run_deployment
    from prefect.flows import Flow

    from test_agent_support import wait_for

    pool = f"wasmops-test-{uuid.uuid4().hex[:6]}"
    env = {**stack.env, "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "5"}
    procs = []
    try:
        for name in ("worker-a", "worker-b"):
            log = open(tmp_path / f"{name}.log", "w")
            procs.append(subprocess.Popen([WASMOPS, "worker", "--pool", pool, "--name", name, "--limit", "1"],
                                          env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT))
        wait_for("both workers in the pool", lambda: _workers(stack.api, pool) == ["worker-a", "worker-b"], 120, 0.5)
        src = tmp_path / "src"
        src.mkdir()
        (src / "fake_release.py").write_text(textwrap.dedent(FLOW))
        marks = tmp_path / "marks"
        marks.mkdir()
        Flow.from_source(str(src), "fake_release.py:fake_release").deploy(
            "on-pool", work_pool_name=pool, build=False, push=False, print_next_steps=False)
        runs = [run_deployment("fake-release/on-pool", timeout=0,
                               parameters={"namespace": "dev", "name": a, "other": b, "marks": str(marks)})
                for a, b in (("mod-a", "mod-b"), ("mod-b", "mod-a"))]
        from prefect.client.orchestration import get_client

        def finished():
            with get_client(sync_client=True) as client:
                states = [client.read_flow_run(r.id) for r in runs]
            if any(s.state.is_final() and not s.state.is_completed() for s in states):
                pytest.fail(f"a run failed: {[(s.name, s.state.message) for s in states]}")
            return all(s.state.is_completed() for s in states) and states

        states = wait_for("both runs completed", finished, 180, 0.5)
        assert len({s.work_pool_name for s in states}) == 1 and states[0].work_pool_name == pool
        pids = {(marks / f"in-mod-{m}").read_text() for m in "ab"}
        assert len(pids) == 2                          # two processes: one flow run per worker (--limit 1)
    finally:   # the runs are over: a worker that does not stop within 5 s of SIGTERM is killed
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


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
