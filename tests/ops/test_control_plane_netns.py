"""The control plane on machines of its own, beside the network-namespace fleet (package fixture
``fleet`` of tests/ops/conftest.py: edge-1, edge-2 with selector env=edge, core-1 with env=core):

- machine ``db``: PostgreSQL (a throwaway cluster from Debian's ``postgresql``) on its own address;
- machine ``control``: the Prefect server and MLflow, ``wasmops up --database postgresql://…@<db>
  --bind <control's address>``;
- machines ``worker-1`` and ``worker-2``: ``wasmops worker --limit 1`` each, with a workspace of its
  own (its clone of the GitOps remote over git://, the fleet's signing key and registry, the fleet's
  agents), talking to the Prefect server on ``control``.

Nothing another machine needs listens on a loopback. The tests, in order (they share the machines):

1. Runs of a deployment on the pool run on the two workers at once: two runs that each wait, inside
   their module's lock, for the other to be inside its own can only both finish on two workers.
2. Three real releases, of module A, module B and A again, submitted at once as runs of the release
   flow deployed on the pool, run on the workers: build, test, sign, publish, commit and push from the
   worker's own clone (a push that lost the race is rebased and pushed again), then wait until the
   edge hosts' agents report the new digests. The remote holds exactly one commit per release; A's two
   releases took turns (the module's lock); both edge hosts serve both modules (core-1 neither).
3. The Prefect server and MLflow stop and start again on the same PostgreSQL: the release runs and a
   registered model version are all there, their tables are in PostgreSQL and no SQLite file exists.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import textwrap
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx
import pytest
import yaml

from support import prefect_api
from support.host import REPO, WASMOPS
from support.netns import stop_process
from support.netns_release import Releaser, manifest, module_dir, node
from support.postgres import PostgresCluster, pg_bin
from test_agent_support import wait_for

FLOW = '''
import os
import time
from pathlib import Path

from prefect import flow

from flows._concurrency import module_lock


@flow(name="meet-in-locks", persist_result=False)
def meet(namespace: str, name: str, other: str, marks: str) -> int:
    """Holds its module's lock until the other module's run is inside its own lock too."""
    with module_lock(namespace, name):
        Path(marks, f"in-{name}").write_text(str(os.getpid()))
        deadline = time.monotonic() + 180
        while not Path(marks, f"in-{other}").exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{other} never ran beside {name}")
            time.sleep(0.2)
    return os.getpid()
'''


class ControlPlane:
    """`wasmops up` on machine ``control`` with its store on the PostgreSQL of machine ``db``."""

    def __init__(self, machine, home, pg: PostgresCluster):
        self.m, self.home, self.pg = machine, home, pg
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("WASMOPS_", "PREFECT_", "PGPASSWORD"))}
        self.env["WASMOPS_HOME"] = str(home)

    def wasmops(self, *args: str, check: int | None = 0) -> subprocess.CompletedProcess:
        p = subprocess.run(["ip", "netns", "exec", self.m.ns, WASMOPS, *args], env=self.env, cwd=REPO,
                           capture_output=True, text=True, timeout=300)
        if check is not None:
            assert p.returncode == check, f"wasmops {' '.join(args)}: {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p

    def up(self) -> str:
        return self.wasmops("up", "--no-serve", "--no-host", "--database", self.pg.url, "--bind", self.m.ip).stdout

    @property
    def services(self) -> dict:
        return json.loads((self.home / "services.json").read_text())


@pytest.fixture(scope="module")
def control(fleet, tmp_path_factory):
    if pg_bin() is None:
        pytest.skip("Debian package `postgresql` is not installed (make deps-system installs it)")
    db, ctl = fleet.net.machine("db"), fleet.net.machine("control")
    pg = PostgresCluster(listen=db.ip, prefix=["ip", "netns", "exec", db.ns], allow=str(fleet.net.subnet))
    cp = ControlPlane(ctl, tmp_path_factory.mktemp("control"), pg)
    try:
        pg.start()
        out = cp.up()
        assert f"{db.ip}:{pg.port}/wasmops" in out and pg.password not in out, out
        yield cp
    finally:
        if (cp.home / "services.json").exists():
            cp.wasmops("down", check=None)
        pg.close()


@pytest.fixture(scope="module")
def workers(fleet, control, tmp_path_factory):
    """Two workers, each on its own machine with its own releasing workspace, in a fresh pool."""
    api, pool, procs, homes = control.services["prefect_api_url"], f"netns-{uuid.uuid4().hex[:6]}", [], {}
    assert api.startswith(f"http://{control.m.ip}:"), api
    try:
        for name in ("worker-1", "worker-2"):
            m, home = fleet.net.machine(name), tmp_path_factory.mktemp(name)
            rel = Releaser(fleet, home / "ws", api, remote=fleet.remote_url)
            env = {**rel.env, "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "5",
                   "WASMOPS_FLEET_TIMEOUT_S": "150"}
            procs.append(m.popen([WASMOPS, "worker", "--pool", pool, "--name", name, "--limit", "1"], env=env,
                                 cwd=REPO, stdout=open(home / "worker.log", "w"), stderr=subprocess.STDOUT))
            homes[name] = rel
        with _client_of(api):
            wait_for("both workers in the pool", lambda: _workers(pool) == ["worker-1", "worker-2"], 120, 0.5)
            yield pool, homes
    finally:                      # both at once: a worker may take seconds to wind down after SIGTERM
        with ThreadPoolExecutor(len(procs) or 1) as ex:
            list(ex.map(stop_process, procs))


class _client_of:
    """This process's Prefect client talks to ``api`` inside the ``with`` (settings are read at import)."""

    def __init__(self, api: str):
        from prefect.settings import PREFECT_API_URL, temporary_settings

        self.cm = temporary_settings({PREFECT_API_URL: api})

    def __enter__(self):
        return self.cm.__enter__()

    def __exit__(self, *exc):
        return self.cm.__exit__(*exc)


def _workers(pool: str) -> list[str]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return sorted(w.name for w in client.read_workers_for_work_pool(pool))


def _wait_completed(runs, timeout: float) -> list:
    from prefect.client.orchestration import get_client

    def finished():
        with get_client(sync_client=True) as client:
            states = [client.read_flow_run(r.id) for r in runs]
        failed = [(s.name, s.state.message) for s in states if s.state.is_final() and not s.state.is_completed()]
        assert not failed, f"a run failed: {failed}"
        return all(s.state.is_completed() for s in states) and states

    return wait_for("the runs completed", finished, timeout, 0.5)


def test_runs_on_the_pool_run_on_both_workers_at_once(control, workers, tmp_path):
    from prefect.deployments import run_deployment
    from prefect.flows import Flow

    pool, _ = workers
    src, marks = tmp_path / "src", tmp_path / "marks"
    src.mkdir()
    marks.mkdir()
    (src / "meet.py").write_text(textwrap.dedent(FLOW))
    with _client_of(control.services["prefect_api_url"]):
        Flow.from_source(str(src), "meet.py:meet").deploy("netns", work_pool_name=pool, build=False, push=False,
                                                          print_next_steps=False)
        runs = [run_deployment("meet-in-locks/netns", timeout=0,
                               parameters={"namespace": "dev", "name": a, "other": b, "marks": str(marks)})
                for a, b in (("mod-a", "mod-b"), ("mod-b", "mod-a"))]
        states = _wait_completed(runs, 240)
    assert {s.work_pool_name for s in states} == {pool}
    assert len({(marks / f"in-mod-{m}").read_text() for m in "ab"}) == 2     # two processes, one per worker


def test_releases_from_two_workers_push_one_commit_each_and_two_of_one_module_take_turns(
        fleet, control, workers, tmp_path):
    """Three runs of the release flow at once: module A (v1), module B, and A again (v2). Every release
    pushes exactly one commit from its worker's clone; A's two runs never overlap (their task runs lie
    in disjoint intervals: the module's lock), and the edge hosts end on whichever of A's ran last."""
    from prefect.deployments import run_deployment
    from prefect.flows import Flow

    pool, rels = workers
    rel = rels["worker-1"]
    a, b = (f"cp{secrets.token_hex(3)}" for _ in range(2))
    for name in (a, b):
        rel.put_manifest(f"edge/{name}", manifest(fleet, name), f"onboard edge/{name}")
    before = rel.at_main("rev-parse", "main")
    api = control.services["prefect_api_url"]
    plan = [(a, "v1"), (b, "v1"), (a, "v2")]
    with _client_of(api):
        Flow.from_source(str(REPO), "flows/release.py:release").deploy(
            "netns", work_pool_name=pool, build=False, push=False, print_next_steps=False)
        runs = [run_deployment("release/netns", timeout=0, parameters={
                    "module_dir": str(module_dir(tmp_path / f"{name}-{v}", name, f'{{"{name}":"{v}"}}')),
                    "target": f"edge/{name}", "auto_approve": True, "ai_check": False})
                for name, v in plan]
        _wait_completed(runs, 400)
    by = {r.id: wait_for(f"the worker that took {r.id}", lambda r=r: _submitted_by(api, r.id), 60, 0.5) for r in runs}
    assert set(by.values()) <= {"worker-1", "worker-2"}, by     # the pool's workers ran them, nobody else
    first, second = sorted((_task_span(api, runs[0].id), _task_span(api, runs[2].id)))
    assert first[1] <= second[0], (first, second)               # A's releases took turns
    e1, e2, core = (node(fleet, n) for n in ("edge-1", "edge-2", "core-1"))
    for name, count in ((a, 2), (b, 1)):
        key = f"edge/{name}"
        log = rel.at_main("log", "--format=%s", f"{before}..main", "--", f"modules/{key}.yaml").splitlines()
        assert len(log) == count and all(s.startswith(f"release {key} ") for s in log), log   # one per release
        digest = yaml.safe_load(rel.at_main("show", f"main:modules/{key}.yaml"))["spec"]["moduleRef"]["digest"]
        assert e1.served().get(key) == digest == e2.served().get(key) and key not in core.served()
    last = "v2" if _task_span(api, runs[2].id) == second else "v1"
    assert e1.client.run("edge", a, b"").text == f'{{"{a}":"{last}"}}'


def _task_span(api: str, run_id) -> tuple[datetime, datetime]:
    """(first start, last end) of the run's task runs."""
    r = prefect_api.post(f"{api}/task_runs/filter", json={"flow_runs": {"id": {"any_": [str(run_id)]}}, "limit": 200},
                   timeout=30)
    r.raise_for_status()
    spans = [(datetime.fromisoformat(t["start_time"]), datetime.fromisoformat(t["end_time"])) for t in r.json()
             if t["start_time"] and t["end_time"]]
    assert spans, f"no finished task runs for {run_id}"
    return min(s for s, _ in spans), max(e for _, e in spans)


def test_prefect_and_mlflow_restart_on_postgresql_with_no_lost_runs_or_models(control):
    svc = control.services
    mlrun, version = _model(svc["mlflow_url"])
    runs = _runs(svc["prefect_api_url"])           # the tests' runs above (when run alone: none yet)
    again = control.wasmops("up", "--no-serve", "--no-host", check=1)         # not silently on SQLite
    assert f"prefect is already running on postgresql://wasmops:***@{control.pg.listen}:{control.pg.port}/wasmops, " \
           "not sqlite" in again.stderr, again.stderr
    assert control.wasmops("down").stdout.strip() == "stopped: mlflow, prefect"
    control.up()
    svc = control.services
    assert _runs(svc["prefect_api_url"]) == runs
    api = f"{svc['mlflow_url']}/api/2.0/mlflow"
    mv = httpx.get(f"{api}/model-versions/get", params={"name": "wasmops-pg", "version": version}, timeout=30)
    assert mv.status_code == 200 and mv.json()["model_version"]["run_id"] == mlrun
    got = httpx.get(f"{api}/runs/get", params={"run_id": mlrun}, timeout=30).json()["run"]["data"]["metrics"]
    assert [(m["key"], m["value"]) for m in got] == [("auc", 0.91)]
    tables = _tables(control.pg.url)
    assert {"flow_run", "deployment"} <= tables["public"] and {"runs", "registered_models"} <= tables["mlflow"]
    assert not (control.home / "mlflow.db").exists() and not list((control.home / "prefect").glob("*.db"))


def _submitted_by(api: str, run_id) -> str | None:
    """The worker that took the run, from its "Worker 'NAME' submitting flow run" log line on the server."""
    r = prefect_api.post(f"{api}/logs/filter", json={"logs": {"flow_run_id": {"any_": [str(run_id)]}}, "limit": 200},
                   timeout=30)
    r.raise_for_status()
    found = [m.group(1) for x in r.json() if (m := re.match(r"Worker '([^']+)' submitting flow run", x["message"]))]
    return found[0] if found else None


def _runs(api: str) -> dict[str, tuple]:
    """Every flow run the server holds: id → (name, flow id, state type, parameters)."""
    r = prefect_api.post(f"{api}/flow_runs/filter", json={"limit": 200}, timeout=30)
    r.raise_for_status()
    return {x["id"]: (x["name"], x["flow_id"], x["state"]["type"], x["parameters"]) for x in r.json()}


def _model(mlflow: str) -> tuple[str, str]:
    api = f"{mlflow}/api/2.0/mlflow"
    run = httpx.post(f"{api}/runs/create", json={"experiment_id": "0", "run_name": "pg-train"}, timeout=30).json()
    run_id = run["run"]["info"]["run_id"]
    assert httpx.post(f"{api}/runs/log-metric", json={"run_id": run_id, "key": "auc", "value": 0.91,
                                                      "timestamp": 1, "step": 0}, timeout=30).status_code == 200
    assert httpx.post(f"{api}/registered-models/create", json={"name": "wasmops-pg"}, timeout=30).status_code == 200
    mv = httpx.post(f"{api}/model-versions/create", json={"name": "wasmops-pg", "source": f"runs:/{run_id}/model",
                                                         "run_id": run_id}, timeout=30)
    assert mv.status_code == 200, mv.text
    return run_id, mv.json()["model_version"]["version"]


def _tables(url: str) -> dict[str, set[str]]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT table_schema, table_name FROM information_schema.tables "
                            "WHERE table_schema IN ('public', 'mlflow')").fetchall()
    out: dict[str, set[str]] = {}
    for schema, name in rows:
        out.setdefault(schema, set()).add(name)
    return out
