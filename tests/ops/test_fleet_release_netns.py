"""A whole release in fleet mode, end to end, on the network-namespace fleet (package fixture ``fleet``
of tests/ops/conftest.py: edge-1, edge-2 with selector env=edge, core-1 with env=core).

`wasmops release` runs from a workspace of its own whose GitOps remote is the fleet's bare remote and
whose registry is the fleet's registry, with ``WASMOPS_FLEET_AGENTS`` set to the three agents and the
Prefect server of the ops stack. It builds, tests, signs and publishes a module written here, commits
once, pushes nothing to any host, waits until the agents report the edge hosts serving the new
digest, and verifies the module's test cases on one of them. Then edge-2's agent is stopped and a
changed module is released under ``wasmops.dev/fleet-min-hosts: "1"``: the release passes on edge-1
alone, its fleet report names edge-2's agent as unreachable, and edge-2 converges by itself once its
agent is back.

The edge agents emit their events to the release's Prefect server (the stack's, on 127.0.0.1, reached
from the machines through a relay on the bridge address; edge-1's agent is restarted for it at the
start, edge-2's when it comes back), so ``await-fleet`` is subscribed to them; the server is checked to
hold each edge agent's ``wasmops.agent.reconciled`` for deploying the module.

Last, a release the edge hosts can never serve (signed with a key they do not trust: admission would
refuse it) ends Stalled: non-zero exit, a message naming both edge hosts as lagging, and in the remote the
release commit followed by its revert; the hosts kept serving the previous digest throughout.
"""

from __future__ import annotations

import secrets

import pytest
import yaml

from support import prefect_api
from support.netns import AGENT_PORT, HOST_PORT, Node, stop_process
from support.netns_release import Relay, Releaser, manifest, module_dir, node
from test_agent_support import wait_for


def _reconciled_events(api: str, host: str, key: str) -> list[dict]:
    """The ``wasmops.agent.reconciled`` events the server holds from the agent beside ``host`` that changed ``key``."""
    r = prefect_api.post(f"{api}/events/filter", timeout=10, json={"filter": {
        "event": {"name": ["wasmops.agent.reconciled"]}, "resource": {"id": [f"wasmops.agent.{host}"]},
        "occurred": {"since": "2020-01-01T00:00:00Z"}}, "limit": 50})
    r.raise_for_status()
    return [e for e in r.json()["events"] if key in e["payload"].get("changed", [])]


def _fleet_report(api: str, key: str) -> str:
    """The newest markdown of the release's ``fleet-<ns>-<name>`` artifact (what await_fleet saw)."""
    r = prefect_api.post(f"{api}/artifacts/filter", timeout=10, json={
        "artifacts": {"key": {"any_": [f"fleet-{key.replace('/', '-')}"]}}, "sort": "CREATED_DESC", "limit": 1})
    r.raise_for_status()
    return r.json()[0]["data"]


@pytest.fixture
def agents_emit_to(fleet, stack):
    """Agents started from now on get ``PREFECT_API_URL`` = the stack's Prefect server (through a relay on
    the bridge); edge-1's is restarted now (edge-2's when the test starts it again). The test waits for
    edge-1's /status before it needs it. The fleet's agent environment is put back afterwards."""
    relay, env = Relay(fleet.net.gateway, stack.api), dict(fleet.env)
    fleet.env["PREFECT_API_URL"] = relay.url
    try:
        e1 = node(fleet, "edge-1")
        stop_process(e1.agent)
        fleet.start_agent(e1)
        yield relay.url
    finally:
        fleet.env.clear()
        fleet.env.update(env)
        relay.close()


def test_a_fleet_mode_release_reaches_exactly_the_edge_hosts_and_a_host_away_converges_by_itself(
        fleet, stack, agents_emit_to, tmp_path):
    e1, e2, core = (node(fleet, n) for n in ("edge-1", "edge-2", "core-1"))
    name = f"rel{secrets.token_hex(3)}"
    key = f"edge/{name}"
    rel = Releaser(fleet, tmp_path / "releaser", stack.api)
    doc = manifest(fleet, name)
    rel.put_manifest(key, doc, f"onboard {key}")
    before = rel.at_main("rev-parse", "main")
    wait_for("edge-1's agent /status (restarted to emit events)", e1.status, 60)

    out = rel.release(module_dir(tmp_path / "v1", name, '{"rel":1}'), key, timeout_s=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert len(rel.at_main("log", "--format=%H", f"{before}..main", "--", f"modules/{key}.yaml").split()) == 1
    d1 = yaml.safe_load(rel.at_main("show", f"main:modules/{key}.yaml"))["spec"]["moduleRef"]["digest"]
    assert f"released {key}" in out.stdout and d1.split(":")[1][:12] in out.stdout, out.stdout
    # the release returned only once the agents reported it: no waiting here
    assert e1.served().get(key) == d1 == e2.served().get(key) and key not in core.served()
    assert e2.client.run("edge", name, b"").text == '{"rel":1}'
    assert "agents' events: subscribed" in _fleet_report(stack.api, key)
    _wait_event(stack, e1, key)                 # edge-1's event for deploying it reached the release's server

    stop_process(e2.agent)                                     # edge-2's agent is away; its host serves v1
    doc["metadata"]["annotations"] = {"wasmops.dev/fleet-min-hosts": "1"}
    rel.put_manifest(key, doc, f"{key}: one edge host is enough")
    mid = rel.at_main("rev-parse", "main")
    out = rel.release(module_dir(tmp_path / "v2", name, '{"rel":2}'), key, timeout_s=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert len(rel.at_main("log", "--format=%H", f"{mid}..main", "--", f"modules/{key}.yaml").split()) == 1
    d2 = yaml.safe_load(rel.at_main("show", f"main:modules/{key}.yaml"))["spec"]["moduleRef"]["digest"]
    assert d2 != d1 and e1.served().get(key) == d2 and e2.served().get(key) == d1
    report = _fleet_report(stack.api, key)
    assert f"unreachable agent http://{e2.m.ip}:{AGENT_PORT}" in report and "1 host(s) must" in report, report

    fleet.start_agent(e2)                                      # nobody pushes: its own agent catches up
    wait_for("edge-2 serves v2 by itself", lambda: e2.served().get(key) == d2, 60)
    assert key not in core.served()

    _release_that_regresses(fleet, tmp_path, rel, key, d2)
    _release_that_stalls(fleet, stack, tmp_path, rel, key, d2)
    _wait_event(stack, e2, key)     # edge-2's agent, started again with the Prefect API, sent its event too
                                    # (checked last: the server stores events a few seconds after they come)


def _wait_event(stack, n: Node, key: str) -> None:
    wait_for(f"{n.m.name}'s wasmops.agent.reconciled changing {key} on the release's Prefect server",
             lambda: _reconciled_events(stack.api, f"http://{n.m.ip}:{HOST_PORT}", key), 60, 0.5)


def _release_that_regresses(fleet, tmp_path, rel: Releaser, key: str, served: str) -> None:
    """The release judge in fleet mode: a release that burns far more fuel per call is judged on an edge
    host that served the previous digest (its baseline sampled there before the commit, the new digest
    after the agents switched it), fails on ``fuel_per_call``, and is rolled back in Git with its digest
    quarantined; nobody reconciles a host centrally, and both edge hosts return to the previous digest
    through their own agents."""
    from wasmops.demo.modules import worker_module

    e1, e2 = node(fleet, "edge-1"), node(fleet, "edge-2")
    start = rel.at_main("rev-parse", "main")
    out = rel.release(worker_module(tmp_path / "heavy", key.split("/")[1], loops=20000, tag="heavy"), key,
                      timeout_s=120, ai_check=True)
    text = " ".join((out.stdout + out.stderr).split())
    assert out.returncode != 0 and "fuel_per_call" in text and "rolled back" in text, text
    log = [ln.split(" ", 1) for ln in rel.at_main("log", "--format=%H %s", f"{start}..main").splitlines()]
    assert any(subject.startswith(f"rollback {key} from ") for _, subject in log), log
    released = next(sha for sha, subject in log if subject.startswith(f"release {key} "))
    bad = yaml.safe_load(rel.at_main("show", f"{released}:modules/{key}.yaml"))
    assert bad["spec"]["moduleRef"]["digest"] != served                  # the release commit, then its revert
    assert bad["spec"]["moduleRef"]["digest"] in rel.at_main("show", "main:quarantine.yaml")
    assert yaml.safe_load(rel.at_main("show", f"main:modules/{key}.yaml"))["spec"]["moduleRef"]["digest"] == served
    for n in (e1, e2):
        wait_for(f"{n.m.name} serves the previous digest again by itself", lambda n=n: n.served().get(key) == served, 90)


def _release_that_stalls(fleet, stack, tmp_path, rel: Releaser, key: str, served: str) -> None:
    """A module signed with a key the hosts do not trust: no edge host can admit it, so the release ends
    Stalled after WASMOPS_FLEET_TIMEOUT_S, names both edge hosts, and its commit is reverted in the remote.
    (With 2 s the agents may not have tried it yet; the message names them either way, with what they
    serve and which commit they applied.)"""
    e1, e2 = node(fleet, "edge-1"), node(fleet, "edge-2")
    start = rel.at_main("rev-parse", "main")
    bad = Releaser(fleet, tmp_path / "untrusted", stack.api, trusted=False)
    out = bad.release(module_dir(tmp_path / "v3", key.split("/")[1], '{"rel":3}'), key, timeout_s=2)
    text = " ".join((out.stdout + out.stderr).split())        # the console may wrap long lines
    assert out.returncode != 0, text
    hosts = [f"http://{n.m.ip}:{HOST_PORT}" for n in (e1, e2)]
    assert "within 2s; lagging: " + ", ".join(hosts) in text, text
    log = rel.at_main("log", "--format=%H %s", f"{start}..main", "--", f"modules/{key}.yaml").splitlines()
    assert len(log) == 2 and log[0].split(" ", 1)[1].startswith(f"rollback {key} from "), log   # release, then its revert
    release_sha = log[1].split()[0]
    assert f"This reverts {release_sha}." in rel.at_main("log", "-1", "--format=%B", log[0].split()[0])
    assert "Wasmops-Wasm-Digest" in rel.at_main("log", "-1", "--format=%B", release_sha)
    assert yaml.safe_load(rel.at_main("show", f"main:modules/{key}.yaml"))["spec"]["moduleRef"]["digest"] == served
    assert e1.served().get(key) == served == e2.served().get(key)      # refused at admission: the old one stays
