"""A fleet release that no agent's selector matches is refused before its commit when every agent
answered (found from outside: it was refused after committing, leaving a release commit and its
revert on main). Agents, selectors and labels drawn by hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from wasmops.errors import UserError
from wasmops.fleet.precheck import refuse_unmatched
from wasmops.fleet.status import FleetStatus

ENVS = st.sampled_from(["edge", "prod", "dev", "eu-west", "lab"])


def _status(selector: str) -> dict:
    return {"agent": {"selector": selector}, "modules": {}, "revision": {}, "conditions": {}}


@given(selectors=st.lists(ENVS, min_size=1, max_size=4), env=ENVS, away=st.integers(0, 4))
def test_refused_only_when_every_agent_answered_and_none_matches(selectors, env, away):
    agents = {f"http://agent-{i}:8711": _status(f"env={sel}") for i, sel in enumerate(selectors)}
    if away < len(selectors):
        agents[f"http://agent-{away}:8711"] = {"error": "connection refused"}
    fs = FleetStatus(agents)
    answered = [a for a in agents.values() if "error" not in a]
    matches = any(a["agent"]["selector"] == f"env={env}" for a in answered)
    everyone = len(answered) == len(agents)
    if everyone and not matches:
        with pytest.raises(UserError, match="no agent's selector matches edge/web"):
            refuse_unmatched(fs, "edge/web", {"env": env, "team": "web"})
    else:
        refuse_unmatched(fs, "edge/web", {"env": env, "team": "web"})


def test_an_agent_that_already_serves_the_module_matches_whatever_its_selector():
    st_ = _status("env=other")
    st_["modules"]["edge/web"] = {"digest": "sha256:" + "a" * 64}
    refuse_unmatched(FleetStatus({"http://a:8711": st_}), "edge/web", {"env": "edge"})
