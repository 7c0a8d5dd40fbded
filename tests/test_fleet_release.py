"""A release waits on the fleet: ``await_serving`` over the agents' /status, the min-hosts annotation,
``WASMOPS_FLEET_AGENTS``, and ``wasmops fleet wait`` against real hosts and agents on 127.0.0.1."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from test_agent_support import WASMOPS, make_fleet, wait_for
from wasmops.config import Settings
from wasmops.errors import UserError
from wasmops.fleet.status import FleetStatus, await_serving, min_hosts_of, rollout_of
from wasmops.gitops.manifest import WasmModuleDeployment

NEW, OLD = "sha256:" + "a" * 64, "sha256:" + "b" * 64
EDGE = {"team": "t", "project": "p", "env": "edge"}


def status(host: str, selector: str, modules: dict | None = None, ready_reason: str = "Applied") -> dict:
    """An agent's /status, reduced to what the fleet reads."""
    cond = {"status": "True" if ready_reason == "Applied" else "False", "reason": ready_reason, "message": ""}
    return {"agent": {"host": host, "selector": selector},
            "revision": {"applied": "c1" * 20, "fetched": "c1" * 20, "committed_at": "2026-01-01T00:00:00+00:00"},
            "conditions": {"Ready": cond, "Stalled": {"status": "False", "reason": "NotStalled", "message": ""}},
            "modules": modules or {}}


def serving(digest: str | None, ready: str = "True") -> dict:
    return {"edge/web": {"serving": digest, "git_digest": NEW, "ready": ready, "reason": "Healthy", "message": ""}}


class Clock:
    """A fake clock that moves only when the waiter sleeps."""

    def __init__(self):
        self.t, self.sleeps = 0.0, []

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s


# host i: (selector matches edge?, serves the new digest?)
hosts = st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=7)


@given(hosts=hosts, min_hosts=st.one_of(st.none(), st.integers(1, 8)))
def test_done_iff_enough_matching_hosts_serve_the_digest(hosts, min_hosts):
    fs = FleetStatus({f"http://agent-{i}": status(f"http://host-{i}", "env=edge" if match else "env=core",
                                                  serving(NEW if serves else OLD) if match else {})
                      for i, (match, serves) in enumerate(hosts)})
    matching = [i for i, (m, _) in enumerate(hosts) if m]
    served = [f"http://host-{i}" for i in matching if hosts[i][1]]
    clock = Clock()
    call = lambda: await_serving(list(fs.agents), "edge/web", NEW, labels=EDGE, min_hosts=min_hosts,  # noqa: E731
                                 timeout_s=2.0, poll_s=0.5, status=lambda urls: fs, clock=clock, sleep=clock.sleep)
    if not matching:
        with pytest.raises(UserError, match="no agent's selector matches edge/web"):
            call()
        return
    r = call()
    need = len(matching) if min_hosts is None else min_hosts
    assert r.done == (len(served) >= need and len(served) >= 1)
    assert sorted(r.served) == sorted(served)
    assert sorted(x.host for x in r.lagging) == sorted(f"http://host-{i}" for i in matching if not hosts[i][1])
    assert r.polls == (1 if r.done else 5) and clock.t == (0 if r.done else 2.0)


# host i: (stable digest served, canary beside it or None)
splits = st.lists(st.tuples(st.sampled_from([OLD, NEW]),
                            st.sampled_from([None, (NEW, 10), (NEW, 50), ("sha256:" + "c" * 64, 50)])),
                  min_size=1, max_size=6)


@given(hosts=splits, step=st.sampled_from([None, (NEW, 10), (NEW, 50)]),
       min_hosts=st.one_of(st.none(), st.integers(1, 7)))
def test_a_host_counts_only_with_exactly_the_split_asked_for(hosts, step, min_hosts):
    """A canary step is done on a host that serves the stable digest with that canary at that weight; a
    plain switch (``step`` None) is not done on a host still splitting traffic with any canary. The
    manifest's fleet-min-hosts counts those hosts the same way."""
    stable = OLD if step else NEW
    fs = FleetStatus({f"http://agent-{i}": status(f"http://host-{i}", "env=edge", {"edge/web": {
        "serving": serving_, "git_digest": NEW, "ready": "True", "reason": "Healthy", "message": "",
        "canary": {"digest": c[0], "weight": c[1]} if c else None}})
        for i, (serving_, c) in enumerate(hosts)})
    r = rollout_of(fs, "edge/web", stable, EDGE, min_hosts, step)
    want = [f"http://host-{i}" for i, (serving_, c) in enumerate(hosts) if serving_ == stable and c == step]
    need = len(hosts) if min_hosts is None else min_hosts
    assert list(r.served) == sorted(want) and r.done == (len(want) >= max(1, need))
    assert all(("with canary" in x.why) == (hosts[int(x.host.rsplit("-", 1)[1])][1] is not None) for x in r.lagging)


def test_waits_until_the_agents_report_the_new_digest():
    looks = iter([status("h1", "env=edge"), status("h1", "env=edge", serving(OLD)), status("h1", "env=edge", serving(NEW))])
    clock = Clock()
    r = await_serving(["a1"], "edge/web", NEW, labels=EDGE, timeout_s=60, poll_s=0.25,
                      status=lambda urls: FleetStatus({"a1": next(looks)}), clock=clock, sleep=clock.sleep)
    assert r.done and r.served == ("h1",) and r.polls == 3 and clock.sleeps == [0.25, 0.25]


def test_timeout_names_the_lagging_host_and_why():
    fs = FleetStatus({"a1": status("h1", "env=edge", serving(NEW)),
                      "a2": status("h2", "env=edge", serving(NEW), ready_reason="HostUnavailable"),
                      "a3": status("h3", "region=eu", serving(OLD, ready="False")),     # listed: it reconciles it
                      "a4": {"error": "ConnectError: refused"}})
    clock = Clock()
    r = await_serving(list(fs.agents), "edge/web", NEW, labels=EDGE, timeout_s=1.0, poll_s=0.5,
                      status=lambda urls: fs, clock=clock, sleep=clock.sleep)
    assert not r.done and r.served == ("h1",) and [x.host for x in r.lagging] == ["h2", "h3"]
    assert "HostUnavailable" in r.lagging[0].why and "serves manifest sha256:bbbbbbbbbbbb…, " in r.lagging[1].why
    assert r.unreachable == (("a4", "ConnectError: refused"),) and "unreachable agent a4" in r.summary()
    assert rollout_of(fs, "edge/web", NEW, EDGE, min_hosts=1).done               # the policy may settle for one
    assert not rollout_of(fs, "edge/web", NEW, EDGE, min_hosts=2).done


def _manifest(annotations: dict) -> WasmModuleDeployment:
    return WasmModuleDeployment.model_validate(yaml.safe_load(f"""
apiVersion: wasmops.dev/v1alpha1
kind: WasmModuleDeployment
metadata: {{name: web, namespace: edge, labels: {{team: t, project: p}}, annotations: {annotations!r}}}
spec:
  moduleRef: {{repository: web, tag: v1}}
  runtimeConfig: {{resources: {{cpu: 50m, memory: 2Mi}}}}
"""))


@pytest.mark.parametrize("bad", ["0", "-1", "two", "", "1.5"])
def test_bad_min_hosts_annotation_names_it_and_the_manifest(bad):
    with pytest.raises(UserError, match="edge/web: annotation wasmops.dev/fleet-min-hosts") as e:
        min_hosts_of(_manifest({"wasmops.dev/fleet-min-hosts": bad}), where="modules/edge/web.yaml")
    assert e.value.where == "modules/edge/web.yaml"


def test_min_hosts_annotation_and_agents_setting(monkeypatch):
    assert min_hosts_of(_manifest({"wasmops.dev/fleet-min-hosts": "2"}), where="x") == 2
    assert min_hosts_of(_manifest({}), where="x") is None
    monkeypatch.setenv("WASMOPS_FLEET_AGENTS", " http://10.0.0.1:8711,http://10.0.0.2:8711 ")
    monkeypatch.setenv("WASMOPS_FLEET_TIMEOUT_S", "42")
    s = Settings()
    assert s.fleet_agents == ["http://10.0.0.1:8711", "http://10.0.0.2:8711"] and s.fleet_timeout_s == 42
    monkeypatch.delenv("WASMOPS_FLEET_AGENTS")
    assert Settings().fleet_agents == []


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = make_fleet(tmp_path_factory.mktemp("fleet"))
    try:
        for name, sel in (("edge-a", "env=edge"), ("edge-b", "env=edge"), ("core", "env=core")):
            n = f.add_node(name, "-l", sel, "--interval", "300ms")
            f.start_host(n)
            f.start_agent(n)
        yield f
    finally:
        f.close()


def test_release_is_done_when_the_matching_hosts_serve_it_and_not_while_an_agent_is_away(fleet):
    a, b, core = fleet.nodes
    agents = [n.agent_url for n in fleet.nodes]
    labels = {"team": "fleet", "project": "agents", "env": "edge"}
    d1, c1 = fleet.publish("web-v1", '{"web":1}'), fleet.publish("api-v1", '{"api":1}')
    fleet.commit({**fleet.manifest("edge/web", "web-v1", d1, "edge"),
                  **fleet.manifest("core/api", "api-v1", c1, "core")}, "web and api v1")
    r = await_serving(agents, "edge/web", d1, labels=labels, timeout_s=60, poll_s=0.1)
    assert r.done and r.served == tuple(sorted([a.host_url, b.host_url])) and not r.lagging, r.summary()
    assert a.served()["edge/web"] == d1 == b.served()["edge/web"] and "edge/web" not in core.served()

    fleet.stop(b.agent_proc)                                  # edge-b's agent goes away
    d2 = fleet.publish("web-v2", '{"web":2}')
    fleet.commit(fleet.manifest("edge/web", "web-v2", d2, "edge"), "web v2 while edge-b's agent is away")
    wait_for("edge-a serves v2", lambda: a.served().get("edge/web") == d2)
    r = await_serving(agents, "edge/web", d2, labels=labels, timeout_s=0.5, poll_s=0.1)
    assert not r.done and r.served == (a.host_url,) and [u for u, _ in r.unreachable] == [b.agent_url], r.summary()
    out = subprocess.run([WASMOPS, "fleet", "wait", "edge/web", "--digest", d2, "--timeout", "0.5",
                          "--agents", ",".join(agents)], capture_output=True, text=True,
                         env={**fleet.env, "COLUMNS": "200"}, cwd=fleet.root, timeout=60)
    assert out.returncode == 1 and "not served" in out.stdout and f"unreachable agent {b.agent_url}" in out.stdout, \
        out.stdout + out.stderr
    assert await_serving(agents, "edge/web", d2, labels=labels, min_hosts=1, timeout_s=5, poll_s=0.1).done


def test_fleet_mode_waits_on_the_agents_and_verifies_on_a_serving_host(monkeypatch):
    """The flow's switch in fleet mode: no reconcile of the workspace host; verify on a host that serves it."""
    import flows.release as fr
    from wasmops.fleet.status import FleetRollout

    calls = []
    monkeypatch.setattr(fr, "reconcile_namespace", lambda *a, **k: calls.append(("reconcile", a)))
    monkeypatch.setattr(fr, "await_fleet", lambda key, d: calls.append(("await", key, d))
                        or FleetRollout(key, d, True, None, served=("http://h2:8700", "http://h9:8700")))
    monkeypatch.setattr(fr, "verify_release", lambda src, key, d, host_url=None: calls.append(("verify", host_url)) or "ok")
    monkeypatch.setenv("WASMOPS_FLEET_AGENTS", "http://a1:8711,http://a2:8711")
    assert fr._switch_and_verify(None, "edge/web", NEW, None) == ("ok", "http://h2:8700")
    assert calls == [("await", "edge/web", NEW), ("verify", "http://h2:8700")]
    monkeypatch.delenv("WASMOPS_FLEET_AGENTS")
    calls.clear()
    assert fr._switch_and_verify(None, "edge/web", NEW, None) == ("ok", None)
    assert calls == [("reconcile", ("edge", "edge/web")), ("verify", None)]


def test_fleet_mode_asks_no_judge_host_for_a_canary_and_rolls_back_without_a_central_reconcile(monkeypatch,
                                                                                                 tmp_path):
    """In fleet mode a canary's steps pick their own host (one serving the split), so the flow asks for a
    judge host only for a plain switch with the AI check; a sticky rollback in fleet mode reverts and
    quarantines in Git but reconciles no host itself (the agents pull it)."""
    import flows.release as fr
    import wasmops.release.rollback as rb
    from tasks.release import sticky_rollback

    doc = {"apiVersion": "wasmops.dev/v1alpha1", "kind": "WasmModuleDeployment",
           "metadata": {"name": "web", "namespace": "edge", "labels": EDGE},
           "spec": {"moduleRef": {"repository": "oci://r/web", "tag": "v1", "digest": OLD},
                    "rollout": {"strategy": "canary", "steps": [{"weight": 10}, {"weight": 100}]}}}
    canary = WasmModuleDeployment.model_validate(doc)
    plain = WasmModuleDeployment.model_validate({**doc, "spec": {**doc["spec"], "rollout": {"strategy": "replace"}}})
    asked = []
    monkeypatch.setattr(fr, "fleet_judge_host", lambda key: asked.append(key) or "http://h1:8700")
    monkeypatch.setenv("WASMOPS_FLEET_AGENTS", "http://a1:8711")
    assert fr._judge_host("edge/web", canary, ai_check=True) is None and asked == []
    assert fr._judge_host("edge/web", plain, ai_check=False) is None and asked == []
    assert fr._judge_host("edge/web", plain, ai_check=True) == "http://h1:8700" and asked == ["edge/web"]
    seen = []
    monkeypatch.setattr(rb, "rollback", lambda s, key, **kw: seen.append(kw["reconcile_after"]) or {})
    monkeypatch.setenv("WASMOPS_HOME", str(tmp_path))
    sticky_rollback.fn("edge/web", NEW, reason="x")
    monkeypatch.delenv("WASMOPS_FLEET_AGENTS")
    sticky_rollback.fn("edge/web", NEW, reason="x")
    assert seen == [False, True]


def test_await_fleet_task_fails_naming_the_unreachable_agent_then_the_policy_settles_for_one(
        fleet, prefect_api, tmp_path, monkeypatch):
    """edge-b's agent is away (the test above stopped it; stopping is idempotent): the task retries,
    then fails naming it; a manifest that asks for one host is done with edge-a alone."""
    from prefect import flow

    from test_agent_support import git
    from tasks.release import await_fleet
    from wasmops.errors import Stalled

    a, b, _ = fleet.nodes
    fleet.stop(b.agent_proc)
    d3 = fleet.publish("web-v3", '{"web":3}')
    files = fleet.manifest("edge/web", "web-v3", d3, "edge")
    fleet.commit(files, "web v3")
    wait_for("edge-a serves web v3", lambda: a.served().get("edge/web") == d3)
    git(tmp_path, "clone", "-q", str(fleet.remote), str(tmp_path / "gitops"))
    monkeypatch.setenv("WASMOPS_HOME", str(tmp_path))
    monkeypatch.setenv("WASMOPS_FLEET_AGENTS", ",".join(n.agent_url for n in fleet.nodes))
    monkeypatch.setenv("WASMOPS_FLEET_TIMEOUT_S", "1")
    task = await_fleet                           # retried inside its run: 4 attempts of 0.25 s, then Stalled

    @flow(name="await-fleet-test", persist_result=False)
    def wait() -> object:
        return task("edge/web", d3)

    with pytest.raises(Stalled, match=rf"within 1s; lagging: agent {b.agent_url} \(unreachable\)"):
        wait()
    doc = yaml.safe_load(files["modules/edge/web.yaml"])
    doc["metadata"]["annotations"] = {"wasmops.dev/fleet-min-hosts": "1"}
    fleet.commit({"modules/edge/web.yaml": yaml.safe_dump(doc, sort_keys=False)}, "web: one edge host is enough")
    git(tmp_path / "gitops", "pull", "-q")
    r = wait()
    assert r.done and r.served == (a.host_url,) and r.needed == 1
