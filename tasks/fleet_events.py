"""A release waiting on the fleet wakes on the agents' Prefect events (the Prefect side of
``wasmops.fleet.status.await_serving``'s ``wake`` seam).

Every ``wasmops agent`` with a Prefect API emits ``wasmops.agent.reconciled`` when it applied a new
revision or changed its host (``flows/agent_events.py``; resource ``wasmops.agent.<host URL>``,
payload ``host``, ``selector``, ``revision``, ``applied``, ``ok``, ``changed``). :class:`AgentEvents`
subscribes to those events (``prefect.events.clients.get_events_subscriber``) on a thread of its own
and, as ``wake(seconds)``, returns early when one arrives from an agent that reconciles the module
(its selector matches the manifest's labels, or the event names the module among its changes). The
waiter then looks at the agents' ``/status`` at once: only ``/status`` decides "done", an event only
says "look now".

Events can be lost (the server starts streaming a moment after the subscription's filter arrives, an
agent's events worker may drop one) and agents may have no Prefect API, so the poll stays as the fallback: every
:data:`FALLBACK_POLL_S` while subscribed, every :data:`PLAIN_POLL_S` (as before events) when there is
no Prefect API, the subscription could not be made within ``connect_timeout_s``, or it was lost.

    >>> with AgentEvents({"env": "edge"}, "edge/web") as wake:                 # doctest: +SKIP
    ...     r = await_serving(agents, "edge/web", digest, labels={"env": "edge"}, timeout_s=300,
    ...                       poll_s=FALLBACK_POLL_S, wake=wake)
"""

from __future__ import annotations

import asyncio
import datetime
import contextvars
import threading

RECONCILED = "wasmops.agent.reconciled"
FALLBACK_POLL_S = 2.0      # subscribed: a slower /status poll, in case an event is lost (or an agent has no API)
PLAIN_POLL_S = 0.5         # no events: look as often as before
REPLAY_GRACE = datetime.timedelta(seconds=1)   # events this much older than the subscription still count


class AgentEvents:
    """``with AgentEvents(labels, key) as wake``: subscribed (or not, see :attr:`subscribed`) on enter,
    unsubscribed on exit. ``wake(seconds)`` -> True when a matching event came within ``seconds``."""

    def __init__(self, labels: dict[str, str] | None, key: str, *, connect_timeout_s: float = 10.0):
        self.labels, self.key, self.connect_timeout_s = labels, key, connect_timeout_s
        self.received = 0            # matching events seen
        self.error: str | None = None
        self._hit, self._ready, self._connected = threading.Event(), threading.Event(), threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._thread: threading.Thread | None = None

    @property
    def subscribed(self) -> bool:
        return self._connected.is_set()

    def wanted(self, payload: dict) -> bool:
        """Is this reconcile one of the module's agents? (Its selector matches the labels, or it changed ``key``.)"""
        from wasmops.errors import WasmopsError
        from wasmops.gitops.selector import Selector

        if self.key in (payload.get("changed") or []):
            return True
        if self.labels is None:
            return True
        try:
            return Selector.parse(payload.get("selector")).matches(self.labels)
        except (WasmopsError, TypeError):
            return True          # a selector we cannot read: look, it costs one /status round

    def limit(self, seconds: float) -> float:
        """How long a wait of ``seconds`` may last: all of it while subscribed, else :data:`PLAIN_POLL_S` at most."""
        return max(0.0, seconds if self.subscribed else min(seconds, PLAIN_POLL_S))

    def __call__(self, seconds: float) -> bool:
        """Wait up to :meth:`limit` (``seconds``); True when a matching event came meanwhile."""
        woke = self._hit.wait(self.limit(seconds))
        self._hit.clear()
        return woke

    # -- the subscription ------------------------------------------------------------------------
    def __enter__(self) -> "AgentEvents":
        from prefect.settings import PREFECT_API_URL

        if not PREFECT_API_URL.value():       # no server the agents could emit to (and no ephemeral one)
            self.error = "no Prefect API (PREFECT_API_URL) to subscribe to"
            return self
        ctx = contextvars.copy_context()      # the caller's Prefect settings (API URL, auth) in the thread
        self._thread = threading.Thread(target=ctx.run, args=(self._run,), name="wasmops-agent-events", daemon=True)
        self._thread.start()
        self._ready.wait(self.connect_timeout_s)
        return self

    def __exit__(self, *exc) -> None:
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:              # the loop ended meanwhile
                pass
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._task = loop.create_task(self._listen())
            loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001 - a lost subscription leaves the poll; never fails a release
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._connected.clear()
            self._ready.set()
            loop.close()

    async def _listen(self) -> None:
        from prefect.events.clients import get_events_subscriber
        from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter, EventResourceFilter

        # The server replays matching events of the last minute first: earlier releases' reconciles would
        # wake this wait for nothing (bench/fleet.py --events counted 59-69 for 15). Only news from now on
        # (less REPLAY_GRACE for clocks a little apart) counts.
        since = datetime.datetime.now(datetime.timezone.utc) - REPLAY_GRACE
        only = EventFilter(event=EventNameFilter(name=[RECONCILED]),
                           resource=EventResourceFilter(id_prefix=["wasmops.agent."]),
                           occurred=EventOccurredFilter(since=since, until=since + datetime.timedelta(days=1)))
        async with get_events_subscriber(filter=only, reconnection_attempts=3) as events:
            self._connected.set()
            self._ready.set()
            async for ev in events:
                if ev.occurred >= since and self.wanted(ev.payload or {}):
                    self.received += 1
                    self._hit.set()
