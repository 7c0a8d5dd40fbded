"""A workspace with a GitOps repo, a running host and the Prefect harness, shared by the flow tests."""

from __future__ import annotations

import shutil

import pytest

from support.host import REPO, HostProcess, make_workspace


@pytest.fixture(scope="module")
def flow_env(tmp_path_factory, prefect_api):
    ws = make_workspace(tmp_path_factory.mktemp("flow-ws"))
    hp = HostProcess(ws)
    client = hp.start()
    mp = pytest.MonkeyPatch()
    mp.setenv("WASMOPS_HOME", str(ws.home))
    mods = tmp_path_factory.mktemp("mods")
    shutil.copytree(REPO / "examples" / "sum-wat", mods / "sum-wat")
    yield ws, client, mods
    mp.undo()
    hp.stop()


