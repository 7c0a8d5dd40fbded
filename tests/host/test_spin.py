"""The event loop's poll-before-sleep (wasmops/host/spin.py), on real event loops (asyncio's and
uvloop's) with a drawn clock: it polls exactly until ``spin_s`` after the last response, then stops
scheduling anything (an idle host costs nothing), and other work runs between its polls."""

from __future__ import annotations

import asyncio
import threading

import pytest
import uvloop
from hypothesis import given
from hypothesis import strategies as st

from wasmops.host.spin import Spinner

LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


class DrawnClock:
    """Advances by the next drawn step on every read (a busy, jittery machine's clock)."""

    def __init__(self, steps: list[float]):
        self.now, self.steps, self.reads = 0.0, steps, []

    def __call__(self) -> float:
        self.now += self.steps[len(self.reads) % len(self.steps)]
        self.reads.append(self.now)
        return self.now


async def _settle(sp: Spinner) -> None:
    while sp.active:
        await asyncio.sleep(0)


@pytest.mark.parametrize("flavour", sorted(LOOPS))
@given(spin_us=st.integers(0, 5_000),
       steps=st.lists(st.floats(1e-7, 3e-4), min_size=1, max_size=20),
       kicks=st.lists(st.integers(0, 30), min_size=1, max_size=6))
def test_polls_until_the_window_after_the_last_kick_then_stops(flavour, spin_us, steps, kicks):
    loop = LOOPS[flavour]()
    clock = DrawnClock(steps)
    sp = Spinner(loop, spin_us / 1e6, clock=clock)

    async def scenario():
        for yields in kicks:                    # a response, then some loop turns before the next one
            sp.kick()
            for _ in range(yields):
                await asyncio.sleep(0)
        await _settle(sp)

    try:
        loop.run_until_complete(scenario())
        if spin_us == 0:
            assert sp.ticks == 0 and not sp.active and clock.reads == []
            return
        assert not sp.active
        assert clock.reads[-1] >= sp.until            # it stopped only once the window had passed
        ticks = sp.ticks
        loop.run_until_complete(asyncio.sleep(0))     # and nothing is left scheduled
        assert sp.ticks == ticks
    finally:
        loop.close()


@pytest.mark.parametrize("flavour", sorted(LOOPS))
def test_other_work_runs_while_it_polls(flavour):
    """A pool thread's result and a timer are served during the window, not after it."""
    loop = LOOPS[flavour]()
    released = threading.Event()
    sp = Spinner(loop, 1.0, clock=lambda: 0.0 if not released.is_set() else 2.0)

    async def scenario():
        sp.kick()
        done = loop.create_future()
        threading.Thread(target=lambda: loop.call_soon_threadsafe(done.set_result, "from a thread")).start()
        assert await done == "from a thread"
        await asyncio.sleep(0.001)              # a timer fires while it polls
        assert sp.active
        released.set()                          # the window passes
        await _settle(sp)

    try:
        loop.run_until_complete(scenario())
        assert not sp.active and sp.ticks > 0
    finally:
        loop.close()
