"""A fleet of machines made with network namespaces (tests/support/netns.py): on the root namespace's
bridge address a bare Git remote (`git daemon`) and an OCI registry (Debian `docker-registry`); three
machines, each with its own address, its own `wasmops host` (port 8700 on every machine) and its own
`wasmops agent` (pulls git://, reconciles its host at its machine's address, /status on its
address). Nobody pushes to a host: every change goes through Git.

edge-1, edge-2: selector env=edge.   core-1: selector env=core.   All heal, interval 1 s. The fleet is the
package fixture ``fleet`` of tests/ops/conftest.py (shared with test_fleet_release_netns.py).
"""

from __future__ import annotations

from support.netns import Node, stop_process
from test_agent_support import wait_for


def _node(f, name) -> Node:
    return next(n for n in f.nodes if n.m.name == name)


def test_release_to_edge_reaches_exactly_the_edge_machines_and_a_returning_host_converges(fleet):
    e1, e2, core = (_node(fleet, n) for n in ("edge-1", "edge-2", "core-1"))
    assert len({n.m.ip for n in fleet.nodes} | {fleet.net.gateway}) == 4
    d1 = fleet.publish("fleet/web", "web-v1", '{"web":1}')
    sha = fleet.commit("edge/web", "fleet/web", "web-v1", d1, "edge", "release edge/web web-v1")
    for n in (e1, e2, core):
        wait_for(f"{n.m.name} applies {sha[:8]}", lambda: n.status()["revision"]["applied"] == sha)
    # (the other netns tests release modules of their own to env=edge: only edge/web is this test's)
    assert e1.served().get("edge/web") == d1 == e2.served().get("edge/web") and core.served() == {}
    assert e2.client.run("edge", "web", b"").json() == {"web": 1}          # served on edge-2's own address

    stop_process(e2.host)                                                        # edge-2 goes away during the change
    wait_for("edge-2's agent sees its host down",
             lambda: e2.status()["conditions"]["Ready"]["reason"] == "HostUnavailable")
    d2 = fleet.publish("fleet/web", "web-v2", '{"web":2}')
    sha2 = fleet.commit("edge/web", "fleet/web", "web-v2", d2, "edge", "release edge/web web-v2")
    wait_for("edge-1 serves v2", lambda: e1.served().get("edge/web") == d2)
    wait_for("edge-2's agent fetched v2 and lags", lambda: e2.status()["revision"]["fetched"] == sha2)
    assert e2.status()["revision"]["applied"] == sha
    fleet.start_host(e2)                                                  # nobody pushes: its own agent acts
    e2.client.wait_ready(90)
    wait_for("edge-2 serves v2 by itself", lambda: e2.served().get("edge/web") == d2, 90)
    wait_for("edge-2 applied v2", lambda: e2.status()["revision"]["applied"] == sha2)
    assert core.served() == {} and core.status()["revision"]["applied"] == sha2


def test_drift_on_one_machine_is_healed_by_its_own_agent(fleet):
    e1, e2 = _node(fleet, "edge-1"), _node(fleet, "edge-2")
    wait_for("edge-1 serves web", lambda: "edge/web" in e1.served())
    before, other = e1.status()["drift_detected_total"], e2.status()["drift_detected_total"]
    live = next(x for x in e1.client.modules() if x["name"] == "web")
    body = {k: live[k] for k in ("ref", "digest", "trust_level", "limits", "labels", "replicas")}
    e1.client.deploy("edge", "web", **body, env={"V": "by-hand"})         # a person changes edge-1 by hand
    wait_for("edge-1 heals env", lambda: next(x["env"] for x in e1.client.modules() if x["name"] == "web") == live["env"])
    st = wait_for("edge-1 records the drift", lambda: (s := e1.status())["drift_detected_total"] > before and s)
    assert st["last_drift"]["items"][0]["field"] == "env.V" and st["last_drift"]["items"][0]["healed"]
    assert e2.status()["drift_detected_total"] == other                  # edge-2 was not touched
