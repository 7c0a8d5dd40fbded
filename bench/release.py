"""Release lead time: commit → serving, with a cached build and a warm Prefect API. Prints figures.

Starts a Prefect test harness (warm API), a real host and a fresh workspace; releases the sum-wat
example once to warm everything, then releases a new version (one changed source byte: the build
really runs) and the same version again (fully cached). Lead time is measured from the start of
the commit task to the end of verify (the host serving the new digest and answering its cases).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")


def task_times(run_id: str) -> dict[str, tuple[float, float]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as c:
        trs = c.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(run_id)])))
    out = {}
    for t in trs:
        if t.start_time and t.end_time:
            out[t.name.rsplit("-", 1)[0]] = (t.start_time.timestamp(), t.end_time.timestamp())
        elif t.state and t.state.timestamp:
            ts = t.state.timestamp.timestamp()
            out[t.name.rsplit("-", 1)[0]] = (ts, ts)
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        os.environ["PREFECT_HOME"] = str(td / "prefect")
        os.environ["PREFECT_LOCAL_STORAGE_PATH"] = str(td / "prefect" / "storage")
        from prefect.testing.utilities import prefect_test_harness

        from support.host import REPO, HostProcess, make_workspace

        with prefect_test_harness(server_startup_timeout=120):
            ws = make_workspace(td / "ws")
            os.environ["WASMOPS_HOME"] = str(ws.home)
            hp = HostProcess(ws)
            hp.start()
            try:
                from flows.release import release
                from prefect.client.orchestration import get_client
                from prefect.client.schemas.sorting import FlowRunSort

                src = td / "sum-wat"
                shutil.copytree(REPO / "examples" / "sum-wat", src)
                release(module_dir=str(src), auto_approve=True)  # warm-up
                wat = src / "sum.wat"
                for label in ("new version, build runs", "same version again, all cached"):
                    if label.startswith("new"):  # a module name lands in the binary's name section
                        wat.write_text(wat.read_text().replace("(module", "(module $v2", 1))
                    t0 = time.perf_counter()
                    res = release(module_dir=str(src), auto_approve=True)
                    total = time.perf_counter() - t0
                    with get_client(sync_client=True) as c:
                        run = c.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=1)[0]
                    tt = task_times(str(run.id))
                    lead = tt["verify"][1] - tt["commit"][0] if "commit" in tt and "verify" in tt else float("nan")
                    serve = tt["reconcile"][1] - tt["commit"][0] if "reconcile" in tt else float("nan")
                    print(f"{label}: flow {total:.2f}s; commit → serving (reconcile done) {serve:.2f}s; "
                          f"commit → verified (verify done) {lead:.2f}s; commit changed={res['commit_changed']}; "
                          f"AI verdict {res['ai_verdict']['verdict'] if res.get('ai_verdict') else '-'}")
            finally:
                hp.stop()


if __name__ == "__main__":
    main()
