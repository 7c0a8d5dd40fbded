"""kill -9 at a release step, then a re-run: it finishes without redoing completed steps or a second commit."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from support.gitops_helpers import add_manifest, copy_module, release_commits
from support.host import WASMOPS


CRASH_AT = Path(__file__).resolve().parents[1] / "support" / "crash_at.py"


def _release(ws, module_dir, api_url, crash_at: str | None = None) -> subprocess.CompletedProcess:
    """``wasmops release``; with ``crash_at``, SIGKILLed when that step starts (tests/support/crash_at.py)."""
    env = {**ws.env, "PREFECT_API_URL": api_url}
    cmd = [sys.executable, str(CRASH_AT), crash_at] if crash_at else [WASMOPS]
    return subprocess.run([*cmd, "release", str(module_dir), "--auto-approve", "--no-ai-check"], env=env,
                          capture_output=True, text=True, timeout=300)


def _task_states(flow_run_id: str) -> dict[str, str]:
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        trs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])))
    return {t.name.rsplit("-", 1)[0]: t.state.name for t in trs if t.state}


def _runs_of(module: str):
    """The release flow runs of ``module`` (their names carry it), oldest first."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=200)
    return [r for r in runs if module in r.name]


@pytest.mark.parametrize("step", ["commit", "reconcile", "verify"])
def test_kill_9_then_rerun_finishes_without_a_second_commit(flow_env, tmp_path, step, prefect_api):
    import git

    ws, host, mods = flow_env
    name = f"crash-{step}"
    src = copy_module(mods / "sum-wat", tmp_path / name, name)
    key = f"dev/{name}"
    add_manifest(ws, key, name)
    first = _release(ws, src, prefect_api, crash_at=step)
    assert first.returncode == -signal.SIGKILL, first.stdout + first.stderr
    commits_after_crash = release_commits(ws, key)
    assert len(commits_after_crash) == (0 if step == "commit" else 1)

    killed = _runs_of(name)
    assert [r.state.name for r in killed] == ["Running"]        # nothing reported it: it stays Running
    second = _release(ws, src, prefect_api)
    assert second.returncode == 0, second.stdout + second.stderr
    # The re-run marked the killed run Crashed (flows/_owner.py): its process is gone.
    (crashed,) = [r for r in _runs_of(name) if r.id == killed[0].id]
    assert crashed.state.name == "Crashed" and "ended without reporting" in crashed.state.message
    assert f"crashed: flow run {crashed.id}" in second.stdout
    commits = release_commits(ws, key)
    assert len(commits) == 1
    assert {m["name"]: m for m in host.modules() if m["namespace"] == "dev"}[name]["digest"]
    # The re-run reused the finished supply-chain steps instead of redoing them.
    msg = git.Repo(ws.settings.gitops_dir).commit(commits[0]).message
    run_id = next(line.split(": ", 1)[1] for line in msg.splitlines() if line.startswith("Wasmops-Flow-Run:"))
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        latest = client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=1)[0]
    states = _task_states(str(latest.id))
    for t in ("build", "test", "policy", "sign", "publish"):
        assert states.get(t) == "Cached", (t, states)
    assert run_id  # provenance names the run that made the single commit
