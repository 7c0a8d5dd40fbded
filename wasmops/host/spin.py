"""Poll before sleeping: after a response, the event loop keeps polling for a short while instead of
blocking in ``epoll_wait`` (issue 14; docs/decisions.md, "The event loop polls before it sleeps").

A worker that blocks as soon as it has answered lets its core go idle; the client's next request then
has to wake it (an interrupt, the scheduler, on a VM an exit to the hypervisor), and at one connection
that wake-up is a large part of each request. ``Spinner.kick()`` after each response keeps the loop
turning (``call_soon`` makes uvloop poll with a zero timeout) until ``spin_s`` after the last
response, so a request that follows quickly is read without a wake-up. It is the kernel's
``net.core.busy_poll`` done in the process, for loopback and any NIC alike.

Bounded by construction: the loop polls only within ``spin_s`` of a response, so an idle host costs
nothing and a host answering ``r`` requests a second spends at most ``r * spin_s`` of a core on it.
Anything else the loop has to do (a request, a pool run's result, the sweep) runs between two polls.
``spin_s = 0`` (``WASMOPS_HOST_SPIN_US=0``) turns it off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Spinner:
    """Keeps ``loop`` polling until ``spin_s`` after the last :meth:`kick`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, spin_s: float,
                 clock: Callable[[], float] = time.perf_counter):
        self.loop, self.spin_s, self.clock = loop, spin_s, clock
        self.until = 0.0
        self.active = False
        self.ticks = 0                  # polls made while spinning (tests, diagnostics)

    def kick(self) -> None:
        """A response went out: keep polling for ``spin_s`` from now."""
        if self.spin_s <= 0:
            return
        self.until = self.clock() + self.spin_s
        if not self.active:
            self.active = True
            self.loop.call_soon(self._tick)

    def _tick(self) -> None:
        self.ticks += 1
        if self.clock() < self.until:
            self.loop.call_soon(self._tick)
        else:
            self.active = False


def spin_seconds() -> float:
    from wasmops.config import current

    return current().host_spin_us / 1e6
