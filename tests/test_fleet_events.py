"""A release waiting on the fleet wakes on the agents' Prefect events (tasks/fleet_events.py), with the
/status poll as the fallback: ``await_serving``'s ``wake`` seam under hypothesis with a fake clock, then
against the session's real Prefect server, the events sent by the agent's own adapter
(flows/agent_events.py). Nothing here measures time: the tests count looks at /status and which
source (event or poll) brought each one."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wasmops.fleet.status import FleetStatus, await_serving

NEW, OLD = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def _status(host: str, selector: str, key: str, digest: str) -> dict:
    return {"agent": {"host": host, "selector": selector},
            "revision": {"applied": "c1" * 20, "fetched": "c1" * 20, "committed_at": "2026-01-01T00:00:00+00:00"},
            "conditions": {"Ready": {"status": "True", "reason": "Applied", "message": ""},
                           "Stalled": {"status": "False", "reason": "NotStalled", "message": ""}},
            "modules": {key: {"serving": digest, "git_digest": NEW, "ready": "True", "reason": "Healthy"}}}


class Fleet:
    """One agent whose host starts serving NEW at look number ``serves_at`` (1-based); counts looks."""

    def __init__(self, host: str, selector: str, key: str, serves_at: int, on_look=None):
        self.host, self.selector, self.key, self.serves_at, self.on_look = host, selector, key, serves_at, on_look
        self.looks = 0

    def __call__(self, urls: list[str]) -> FleetStatus:
        self.looks += 1
        digest = NEW if self.looks >= self.serves_at else OLD
        if self.on_look:
            self.on_look(self.looks)
        return FleetStatus({"http://agent": _status(self.host, self.selector, self.key, digest)})


class FakeTime:
    def __init__(self, woken: list[bool]):
        self.t, self.woken, self.waits = 0.0, list(woken), []

    def clock(self) -> float:
        return self.t

    def wake(self, seconds: float) -> bool:
        """An event wakes pause i when woken[i]: no time passes; else the whole poll interval does."""
        self.waits.append(seconds)
        hit = self.woken.pop(0) if self.woken else False
        self.t += 0.0 if hit else seconds
        return hit


@given(serves_at=st.integers(1, 6), woken=st.lists(st.booleans(), max_size=8))
def test_an_event_brings_the_next_look_forward_and_the_done_rule_is_the_polls(serves_at, woken):
    """Whatever the events: done exactly at the look where the host serves, each pause an event ended
    counted in ``woken``, and the time that passed is the poll intervals no event cut short."""
    fake = FakeTime(woken)
    fleet = Fleet("http://h1", "env=edge", "edge/web", serves_at)
    r = await_serving(["http://agent"], "edge/web", NEW, labels={"env": "edge"}, timeout_s=1000, poll_s=2.0,
                      status=fleet, clock=fake.clock, sleep=pytest.fail, wake=fake.wake)
    pauses = serves_at - 1
    events = woken[:pauses] + [False] * max(0, pauses - len(woken))
    assert r.done and r.polls == fleet.looks == serves_at and r.served == ("http://h1",)
    assert r.woken == sum(events) and fake.waits == [2.0] * pauses
    assert fake.t == 2.0 * events.count(False) == r.waited_s
    assert f"{serves_at} look(s) at the agents' /status, {sum(events)} on an agent's event" in r.summary()


def test_events_from_other_agents_do_not_wake_the_wait():
    from tasks.fleet_events import AgentEvents

    w = AgentEvents({"team": "t", "project": "p", "env": "edge", "region": "eu"}, "edge/web")
    assert w.wanted({"selector": "env=edge", "changed": []})
    assert w.wanted({"selector": "env in (edge,core),region!=us"})
    assert w.wanted({"selector": "env=core", "changed": ["edge/web"]})      # it reconciles the module anyway
    assert not w.wanted({"selector": "env=core", "changed": ["core/api"]})
    assert not w.wanted({"selector": "env=edge,region=us"})
    assert AgentEvents(None, "edge/web").wanted({"selector": "env=core"})   # labels unknown: any agent may
    assert not w(0.0)                                                        # nothing came: no early wake-up


def test_a_reconciled_event_from_a_matching_agent_wakes_the_waiter(prefect_api):
    """Real server: the host serves after the first look and its agent says so with the adapter's event;
    the waiter looks again because of the event (woken), not because a poll came due (the poll
    interval is longer than the timeout, so a lost event would end not done). An event the server held
    from before the subscription (an earlier release's reconcile, which the server replays to a new
    subscriber) is not counted."""
    import datetime

    import httpx
    from prefect.events import emit_event

    from flows.agent_events import emitter
    from tasks.fleet_events import AgentEvents
    from test_agent_support import wait_for

    tag = secrets.token_hex(4)
    host, key, labels = f"http://h-{tag}:8700", f"edge/web{tag}", {"team": "t", "project": "p", "env": f"edge{tag}"}
    emit = emitter(host)
    reconciled = {"host": host, "selector": f"env=edge{tag}", "revision": "c2" * 20, "applied": "c2" * 20,
                  "ok": True, "summary": "1 applied", "changed": [key]}

    def agent_applies(look: int) -> None:
        if look == 1:                      # after the first look: the host now serves NEW, the agent reports it
            emit("wasmops.agent.reconciled", reconciled)

    fleet = Fleet(host, f"env=edge{tag}", key, serves_at=2, on_look=agent_applies)
    earlier = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=20)
    emit_event("wasmops.agent.reconciled", resource={"prefect.resource.id": f"wasmops.agent.{host}"},
               occurred=earlier, payload={**reconciled, "revision": "c0" * 20})
    wait_for("the earlier event stored", lambda: httpx.post(f"{prefect_api}/events/filter", timeout=10, json={
        "filter": {"resource": {"id": [f"wasmops.agent.{host}"]}, "occurred": {"since": "2020-01-01T00:00:00Z"}}}
    ).json()["events"], 60, 0.2)
    with AgentEvents(labels, key, connect_timeout_s=60) as wake:
        assert wake.subscribed, wake.error
        # the server starts streaming to a subscriber a moment after its filter arrives: one event through
        # first (the agent's previous pass), so the one below cannot fall in that moment
        emit("wasmops.agent.reconciled", {**reconciled, "revision": "c1" * 20, "applied": "c1" * 20, "changed": []})
        assert wake(60) and wake.received == 1
        r = await_serving(["http://agent"], key, NEW, labels=labels, timeout_s=90, poll_s=120, status=fleet, wake=wake)
    assert r.done and r.polls == fleet.looks == 2 and r.woken == 1 and wake.received == 2, r.summary()


def test_with_no_events_the_poll_still_finishes(prefect_api):
    """Subscribed, but no agent emits: the slow poll brings every look; with no Prefect API at all,
    nothing is subscribed and the wait polls as often as before."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tasks.fleet_events import PLAIN_POLL_S, AgentEvents

    tag = secrets.token_hex(4)
    key, labels = f"edge/quiet{tag}", {"team": "t", "project": "p", "env": f"quiet{tag}"}
    fleet = Fleet(f"http://h-{tag}", f"env=quiet{tag}", key, serves_at=3)
    with AgentEvents(labels, key, connect_timeout_s=60) as wake:
        assert wake.subscribed, wake.error
        assert wake.limit(30) == 30
        r = await_serving(["http://agent"], key, NEW, labels=labels, timeout_s=90, poll_s=0.1, status=fleet, wake=wake)
    assert r.done and r.polls == 3 and r.woken == 0 and wake.received == 0, r.summary()

    fleet = Fleet(f"http://h-{tag}", f"env=quiet{tag}", key, serves_at=2)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        with AgentEvents(labels, key) as wake:
            assert not wake.subscribed and "no Prefect API" in wake.error
            assert wake.limit(30) == PLAIN_POLL_S           # unsubscribed: the slow interval shrinks to the old poll
            r = await_serving(["http://agent"], key, NEW, labels=labels, timeout_s=90, poll_s=30, status=fleet,
                              wake=wake)
    assert r.done and r.polls == 2 and r.woken == 0, r.summary()
