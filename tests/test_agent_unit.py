"""The agent in-process against an in-memory host and a local Git repo: selection, pruning scope,
events through the injected callback (only on change), selectors, the webhook's secret check."""

from __future__ import annotations

import hashlib
import hmac

import git
import pytest
import yaml

from wasmops.fleet.agent import Agent, AgentConfig
from wasmops.fleet.agent_server import authorised
from wasmops.errors import UserError
from wasmops.gitops.selector import Selector

ACTOR = git.Actor("t", "t@localhost")


class FakeHost:
    def __init__(self):
        self.live: dict[str, dict] = {}

    def modules(self):
        return [dict(v) for _, v in sorted(self.live.items())]

    def deploy(self, namespace, name, **body):
        self.live[f"{namespace}/{name}"] = {"namespace": namespace, "name": name, "health": "Healthy", **body}
        return {}

    def delete(self, namespace, name):
        return self.live.pop(f"{namespace}/{name}")

    def set_canary(self, namespace, name, *, weight, **body):
        self.live[f"{namespace}/{name}"]["canary"] = {"digest": body["digest"], "weight": weight}
        return {}

    def delete_canary(self, namespace, name):
        return self.live[f"{namespace}/{name}"].pop("canary")

    def promote_canary(self, namespace, name):
        m = self.live[f"{namespace}/{name}"]
        m["digest"] = m.pop("canary")["digest"]
        return {}


def doc(key: str, n: int, env: str) -> str:
    ns, name = key.split("/")
    return yaml.safe_dump({"metadata": {"name": name, "namespace": ns,
                                        "labels": {"team": "t", "project": "p", "env": env}},
                           "spec": {"moduleRef": {"repository": name, "tag": "v", "digest": f"sha256:{n:064x}"}}})


@pytest.fixture
def repo(tmp_path):
    r = git.Repo.init(tmp_path, initial_branch="main")

    def commit(files: dict[str, str]) -> str:
        for rel, text in files.items():
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_text(text)
        r.index.add(list(files))
        return r.index.commit("c", author=ACTOR, committer=ACTOR).hexsha

    r.commit_files = commit
    return r


def make_agent(repo, selector: str, host: FakeHost, events: list, mode="heal") -> Agent:
    cfg = AgentConfig(host_url="mem://", selector=Selector.parse(selector), clone_dir=repo.working_tree_dir,
                      registry="oci-layout:///x", mode=mode, timeout_s=1)
    return Agent(cfg, host, emit=lambda e, p: events.append((e, p)))


def test_selection_pruning_scope_and_events(repo):
    sha = repo.commit_files({"modules/e/a.yaml": doc("e/a", 1, "edge"), "modules/c/b.yaml": doc("c/b", 2, "core")})
    host, events = FakeHost(), []
    host.deploy("x", "by-hand", digest="sha256:" + "9" * 64, labels={"env": "core"})     # not ours: kept
    host.deploy("x", "stale", digest="sha256:" + "8" * 64, labels={"env": "edge"})       # ours, not in Git: pruned
    ag = make_agent(repo, "env=edge", host, events)
    st = ag.run_once()
    assert set(host.live) == {"e/a", "x/by-hand"}
    assert st["revision"]["applied"] == sha and st["selector_matches"] == 1 and st["manifests"] == 2
    assert [e for e, _ in events] == ["wasmops.agent.reconciled"]
    assert events[0][1]["changed"] == ["e/a", "x/stale"]
    assert ag.run_once()["last_pass"]["skipped"] is False          # re-reads what it just changed
    assert ag.run_once()["last_pass"]["skipped"] is True and len(events) == 1   # nothing new: no event
    host.live["e/a"]["env"] = {"X": "1"}                             # drift by hand
    st = ag.run_once()
    assert [e for e, _ in events][1:] == ["wasmops.agent.drift", "wasmops.agent.reconciled"]
    assert st["drift"][0]["field"] == "env.X" and st["drift"][0]["healed"] and host.live["e/a"].get("env") == {}


def test_report_mode_changes_nothing_and_reports_once(repo):
    repo.commit_files({"modules/e/a.yaml": doc("e/a", 1, "edge")})
    host, events = FakeHost(), []
    ag = make_agent(repo, "env=edge", host, events, mode="report")
    st = ag.run_once()
    assert host.live == {} and st["drift"][0]["module"] == "e/a" and st["revision"]["applied"] is None
    ag.run_once()
    assert [e for e, _ in events] == ["wasmops.agent.drift"]


def test_a_selector_matching_nothing_says_so(repo):
    repo.commit_files({"modules/e/a.yaml": doc("e/a", 1, "edge")})
    logs: list[str] = []
    ag = make_agent(repo, "env=moon", FakeHost(), [])
    ag.log = logs.append
    st = ag.run_once()
    assert st["selector_matches"] == 0 and "matches none of the 1 manifests" in st["warnings"][0]
    assert "env=edge" in st["warnings"][0] and logs and "env=moon" in logs[0]


def test_selectors():
    s = Selector.parse("env=edge, region in (eu,us), !canary, tier!=db")
    assert s.matches({"env": "edge", "region": "us"})
    assert not s.matches({"env": "edge", "region": "us", "canary": "1"})
    assert not s.matches({"env": "edge", "region": "ap"}) and not s.matches({"region": "eu"})
    assert not s.matches({"env": "edge", "region": "eu", "tier": "db"})
    assert Selector.parse("").matches({}) and Selector.parse("k").matches({"k": ""})
    for bad in ("=x", "a in ()", "a b", "env=a b"):
        with pytest.raises(UserError):
            Selector.parse(bad)


def test_webhook_secret_check():
    body = b"{}"
    sig = "sha256=" + hmac.new(b"s", body, hashlib.sha256).hexdigest()
    assert authorised("s", {"X-Wasmops-Secret": "s"}, body)
    assert authorised("s", {"Authorization": "Bearer s"}, body)
    assert authorised("s", {"X-Hub-Signature-256": sig}, body)
    assert not authorised("s", {"X-Wasmops-Secret": "t"}, body)
    assert not authorised("s", {"X-Hub-Signature-256": sig}, b"other")
    assert not authorised("s", {}, body) and not authorised(None, {"X-Wasmops-Secret": ""}, body)


def test_a_canary_in_git_is_split_on_the_host_and_reported_beside_the_stable_digest(repo):
    """Git's ``spec.rollout.inProgress`` reaches the agent's host as a canary at its weight (through the
    agent's scoped view of the host), and /status says so: ``serving`` stays the stable digest, ``canary``
    is the new one with its weight; removing ``inProgress`` promotes it, and ``canary`` goes away."""
    v1, v2 = f"sha256:{1:064x}", f"sha256:{2:064x}"
    repo.commit_files({"modules/e/a.yaml": doc("e/a", 1, "edge")})
    host = FakeHost()
    ag = make_agent(repo, "env=edge", host, [])
    st = ag.run_once()["modules"]["e/a"]
    assert (st["serving"], st["canary"]) == (v1, None), st
    m = yaml.safe_load(doc("e/a", 2, "edge"))
    m["spec"]["rollout"] = {"strategy": "canary", "steps": [{"weight": 10}, {"weight": 100}],
                            "inProgress": {"stable": {"tag": "v", "digest": v1}, "step": 0, "weight": 10}}
    repo.commit_files({"modules/e/a.yaml": yaml.safe_dump(m)})
    st = ag.run_once()["modules"]["e/a"]
    assert host.live["e/a"]["digest"] == v1 and host.live["e/a"]["canary"] == {"digest": v2, "weight": 10}
    assert (st["serving"], st["canary"], st["git_digest"]) == (v1, {"digest": v2, "weight": 10}, v2), st
    del m["spec"]["rollout"]["inProgress"]
    repo.commit_files({"modules/e/a.yaml": yaml.safe_dump(m)})
    st = ag.run_once()["modules"]["e/a"]
    assert host.live["e/a"]["digest"] == v2 and "canary" not in host.live["e/a"]
    assert (st["serving"], st["canary"]) == (v2, None), st
