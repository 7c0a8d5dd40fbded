"""A fleet on 127.0.0.1, as real processes: a bare Git remote, four hosts, each with its agent.

edge-a, edge-b: selector env=edge, heal, 1 s interval.   core: env=core, heal, 1 h interval (webhook-driven).
edge-r: env=edge in report mode.   Tests wait on /status and the hosts' admin API with deadlines.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import subprocess

import httpx
import pytest

from test_agent_support import SECRET, WASMOPS, make_fleet, wait_for


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = make_fleet(tmp_path_factory.mktemp("fleet"))
    specs = {"edge-a": ("-l", "env=edge", "--interval", "1s"), "edge-b": ("-l", "env=edge", "--interval", "1s"),
             "core": ("-l", "env=core", "--interval", "1h"),
             "edge-r": ("-l", "env=edge", "--interval", "1s", "--mode", "report")}
    try:
        for name, args in specs.items():
            n = f.add_node(name, *args)
            f.start_host(n)
            f.start_agent(n)
        yield f
    finally:
        f.close()


def node(fleet, name):
    return next(n for n in fleet.nodes if n.name == name)


def poke(n, secret=SECRET) -> httpx.Response:
    return httpx.post(n.agent_url + "/webhook", headers={"X-Wasmops-Secret": secret}, timeout=5)


def applied(n, sha: str):
    return n.status()["revision"]["applied"] == sha


def test_selector_matching_nothing_says_so(fleet):
    st = wait_for("a first pass on edge-a", lambda: node(fleet, "edge-a").status()["last_pass"])
    assert st is not None
    st = node(fleet, "edge-a").status()                 # the first commit has no manifests at all
    assert st["selector_matches"] == 0 and "selector env=edge matches none of the 0 manifests" in st["warnings"][0]
    assert "matches none" in (node(fleet, "edge-a").home / "agent.log").read_text()


def test_commit_reaches_exactly_the_matching_hosts(fleet):
    d1, c1 = fleet.publish("web-v1", '{"web":1}'), fleet.publish("api-v1", '{"api":1}')
    sha = fleet.commit({**fleet.manifest("edge/web", "web-v1", d1, "edge"),
                        **fleet.manifest("core/api", "api-v1", c1, "core")}, "web and api v1")
    core = node(fleet, "core")
    assert poke(core).status_code == 202
    for name in ("edge-a", "edge-b", "core"):
        wait_for(f"{name} applies {sha[:8]}", lambda: applied(node(fleet, name), sha))
    assert node(fleet, "edge-a").served() == {"edge/web": d1} == node(fleet, "edge-b").served()
    assert core.served() == {"core/api": c1}
    assert node(fleet, "edge-a").client.run("edge", "web", b"").json() == {"web": 1}
    st = node(fleet, "edge-b").status()
    assert st["modules"]["edge/web"]["serving"] == d1 and st["conditions"]["Ready"]["status"] == "True"
    # report mode: nothing applied, the missing module is reported
    r = node(fleet, "edge-r")
    wait_for("edge-r reports edge/web missing", lambda: any(d["module"] == "edge/web" for d in r.status()["drift"]))
    assert r.served() == {}

    d2 = fleet.publish("web-v2", '{"web":2}')
    sha2 = fleet.commit(fleet.manifest("edge/web", "web-v2", d2, "edge"), "web v2")
    for name in ("edge-a", "edge-b"):
        wait_for(f"{name} serves web v2", lambda: node(fleet, name).served().get("edge/web") == d2)
    assert core.served() == {"core/api": c1}
    assert core.status()["revision"]["fetched"] != sha2        # core was not poked: it did not even fetch


def test_webhook_with_a_bad_secret_gets_401_and_pulls_nothing(fleet):
    core = node(fleet, "core")
    before = core.status()
    d = fleet.publish("api-v2", '{"api":2}')
    sha = fleet.commit(fleet.manifest("core/api", "api-v2", d, "core"), "api v2")
    assert poke(core, "wrong").status_code == 401
    body = b'{"ref": "refs/heads/main"}'
    bad_sig = {"X-Hub-Signature-256": "sha256=" + hmac.new(b"nope", body, hashlib.sha256).hexdigest()}
    assert httpx.post(core.agent_url + "/webhook", content=body, headers=bad_sig, timeout=5).status_code == 401
    assert httpx.post(core.agent_url + "/webhook", timeout=5).status_code == 401
    after = core.status()
    assert after["counters"]["fetches"] == before["counters"]["fetches"] and after["revision"]["fetched"] != sha
    good_sig = {"X-Hub-Signature-256": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()}
    assert httpx.post(core.agent_url + "/webhook", content=body, headers=good_sig, timeout=5).status_code == 202
    wait_for("core serves api v2 after a good webhook", lambda: core.served().get("core/api") == d)


def test_a_stopped_host_converges_by_itself_when_it_returns(fleet):
    a, b = node(fleet, "edge-a"), node(fleet, "edge-b")
    fleet.stop(b.host_proc)
    wait_for("edge-b's agent sees its host down",
             lambda: b.status()["conditions"]["Ready"]["reason"] == "HostUnavailable")
    d3 = fleet.publish("web-v3", '{"web":3}')
    sha = fleet.commit(fleet.manifest("edge/web", "web-v3", d3, "edge"), "web v3 while edge-b is down")
    wait_for("edge-a serves v3", lambda: a.served().get("edge/web") == d3)
    wait_for("edge-b's agent fetched v3", lambda: b.status()["revision"]["fetched"] == sha)
    out = subprocess.run([WASMOPS, "fleet", "status", "--agents", f"{a.agent_url},{b.agent_url}"],
                         capture_output=True, text=True, env={**fleet.env, "COLUMNS": "200"}, timeout=60)
    assert out.returncode == 1 and "lagging" in out.stdout and f"127.0.0.1:{b.host_port}" in out.stdout, out.stdout
    fleet.start_host(b)                                       # nobody pushes: its agent notices
    wait_for("edge-b serves v3 on its own", lambda: b.served().get("edge/web") == d3)
    wait_for("edge-b applied v3", lambda: applied(b, sha))
    out = subprocess.run([WASMOPS, "fleet", "status", "--agents", f"{a.agent_url},{b.agent_url}"],
                         capture_output=True, text=True, env={**fleet.env, "COLUMNS": "200"}, timeout=60)
    assert out.returncode == 0, out.stdout


def _hand_edit(n, key: str, env: dict) -> None:
    ns, name = key.split("/")
    live = next(m for m in n.client.modules() if m["namespace"] == ns and m["name"] == name)
    body = {k: live[k] for k in ("ref", "digest", "trust_level", "limits", "labels", "replicas")}
    n.client.deploy(ns, name, **body, env=env)


def test_drift_is_healed_by_its_own_agent(fleet):
    a, b = node(fleet, "edge-a"), node(fleet, "edge-b")
    before = a.status()["drift_detected_total"]
    git_env = next(m["env"] for m in a.client.modules() if m["name"] == "web")
    _hand_edit(a, "edge/web", {"V": "by-hand"})
    wait_for("edge-a heals env", lambda: next(m["env"] for m in a.client.modules() if m["name"] == "web") == git_env)
    st = wait_for("edge-a records the drift", lambda: (s := a.status())["drift_detected_total"] > before and s)
    assert st["last_drift"]["items"][0]["field"] == "env.V" and st["last_drift"]["items"][0]["healed"]
    assert b.status()["drift_detected_total"] == 0                  # edge-b's host was not touched


def test_drift_is_only_reported_in_report_mode(fleet):
    r, a = node(fleet, "edge-r"), node(fleet, "edge-a")
    live = next(m for m in a.client.modules() if m["name"] == "web")   # what Git says, as edge-a serves it
    body = {k: live[k] for k in ("ref", "digest", "trust_level", "limits", "labels", "replicas")}
    r.client.deploy("edge", "web", **body, env={"V": "by-hand"})
    st = wait_for("edge-r reports env drift",
                  lambda: (s := r.status()) and any(d["field"] == "env.V" for d in s["drift"]) and s)
    assert not any(d["healed"] for d in st["drift"])
    assert st["modules"]["edge/web"]["next"] == "stalled"
    assert next(m["env"] for m in r.client.modules() if m["name"] == "web") == {"V": "by-hand"}


def test_unreachable_remote_is_stalled_and_the_agent_keeps_serving(fleet):
    core = node(fleet, "core")
    spare = fleet.root / "spare.git"
    shutil.copytree(fleet.remote, spare)
    n = fleet.add_node("watcher", "-l", "env=core", "--interval", "1s", "--mode", "report",
                       "--clone", str(fleet.root / "watcher-clone"))
    n.host_port = core.host_port                                 # reads core's host; report mode changes nothing
    fleet.start_agent(n, remote=f"file://{spare}")
    wait_for("watcher fetched", lambda: n.status()["conditions"]["SourceReady"]["status"] == "True")
    spare.rename(fleet.root / "spare-gone.git")
    st = wait_for("watcher Stalled", lambda: (s := n.status())["conditions"]["Stalled"]["status"] == "True" and s)
    assert st["conditions"]["Stalled"]["reason"] == "FetchFailed" and "spare.git" in st["conditions"]["Stalled"]["message"]
    wait_for("back-off grows", lambda: (n.status()["retry_in_s"] or 0) >= 4, timeout=30)
    assert n.status()["revision"]["fetched"] and core.client.run("core", "api", b"").status_code == 200
    (fleet.root / "spare-gone.git").rename(spare)
    wait_for("watcher recovers", lambda: n.status()["conditions"]["Stalled"]["status"] == "False", timeout=60)
    assert json.loads(json.dumps(n.status()))["conditions"]["SourceReady"]["status"] == "True"
