"""Where a run executes, and who waits: inline on the event loop, or a bounded, fair thread pool.

Everything here runs on the event loop thread (no locks). Each module has a ``Lane``:

* **inline** while its runs are short: the call runs on the event loop itself under an epoch
  *slice* (``INLINE_SLICE_MS``). No thread hop, no GIL hand-off: this is what brings the host
  near the bare wasmtime loop (docs/decisions.md, issue 14). A run that outgrows the slice is
  stopped (``Preempted``), run again from scratch in the pool with its full timeout, and its lane
  goes to the pool until ``SHORT_STREAK`` pool runs in a row are short again.
* **pool** otherwise: at most ``limit`` of the lane's runs at once (default
  ``DEFAULT_LANE_LIMIT``, always fewer than the pool's threads, so one module never holds them
  all), at most ``queue`` waiting; past that the request is refused at once (``Busy``: 503 with
  ``Retry-After``). A freed thread goes to the next lane in round-robin order, so a flood on one
  module waits behind its own queue only. ``wasmops host --pool-nice N`` runs the pool threads at
  a lower CPU priority, so long runs yield the core to the event loop's short ones (default 0: on
  a shared machine a niced thread also loses CPU to other processes, and a timed-out run is billed
  by its CPU time).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from .wire_errors import Busy  # noqa: F401  (its HTTP status: wire_errors)

INLINE_SLICE_MS = 25          # an inline run is stopped after 25–30 ms of wall time
SHORT_MS = 2.0                # a pool run this short (CPU time: robust on a busy machine) counts toward going back inline
SHORT_STREAK = 32             # ... and this many in a row send the lane back inline
DEFAULT_LANE_LIMIT = 2        # concurrent pool runs per module
DEFAULT_LANE_QUEUE = 16       # waiting pool runs per module
RETRY_AFTER_S = 1




class Lane:
    def __init__(self, key: str, *, limit: int = DEFAULT_LANE_LIMIT, queue: int = DEFAULT_LANE_QUEUE):
        self.key = key
        self.limit = limit
        self.queue_max = queue
        self.inline = True
        self.short_streak = 0
        self.running = 0
        self.waiting: deque = deque()

    def outgrew_slice(self) -> None:
        self.inline, self.short_streak = False, 0

    def pool_run_took(self, cpu_seconds: float) -> None:
        if cpu_seconds * 1000 <= SHORT_MS:
            self.short_streak += 1
            if self.short_streak >= SHORT_STREAK:
                self.inline = True
        else:
            self.short_streak = 0


class Scheduler:
    """A bounded thread pool shared fairly by lanes; call only from the event loop."""

    def __init__(self, threads: int, *, nice: int = 0):
        self.threads = max(1, threads)
        self.free = self.threads
        self.pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="wasmops-run",
                                       initializer=_lower_priority, initargs=(nice,))
        self.lanes: dict[str, Lane] = {}
        self._ring: deque[Lane] = deque()
        self.shed = 0

    def lane(self, key: str) -> Lane:
        lane = self.lanes.get(key)
        if lane is None:
            limit = max(1, min(DEFAULT_LANE_LIMIT, self.threads - 1))
            lane = self.lanes[key] = Lane(key, limit=limit)
        return lane

    def submit(self, lane: Lane, fn: Callable, *args) -> asyncio.Future:
        """``fn(*args)`` in the pool when the lane and the pool have room; ``Busy`` if the lane's queue is full."""
        fut = asyncio.get_running_loop().create_future()
        if lane.running < lane.limit and self.free > 0:
            self._start(lane, fut, fn, args)
        elif len(lane.waiting) >= lane.queue_max:
            self.shed += 1
            raise Busy(f"{lane.key} has {lane.running} runs in flight and {len(lane.waiting)} waiting; "
                       f"retry after {RETRY_AFTER_S} s", where=lane.key)
        else:
            lane.waiting.append((fut, fn, args))
            if lane not in self._ring:
                self._ring.append(lane)
        return fut

    def _start(self, lane: Lane, fut: asyncio.Future, fn: Callable, args: tuple) -> None:
        lane.running += 1
        self.free -= 1
        loop = asyncio.get_running_loop()
        cf = self.pool.submit(fn, *args)
        cf.add_done_callback(lambda f: loop.call_soon_threadsafe(self._done, lane, fut, f))

    def _done(self, lane: Lane, fut: asyncio.Future, cf) -> None:
        lane.running -= 1
        self.free += 1
        if not fut.cancelled():
            exc = cf.exception()
            fut.set_exception(exc) if exc is not None else fut.set_result(cf.result())
        self._pump()

    def _pump(self) -> None:
        """Hand free threads to waiting lanes, one run per lane per turn."""
        turns = len(self._ring)
        while self.free > 0 and self._ring and turns > 0:
            turns -= 1
            lane = self._ring.popleft()
            if lane.running < lane.limit and lane.waiting:
                fut, fn, args = lane.waiting.popleft()
                if fut.cancelled():
                    turns += 1
                else:
                    self._start(lane, fut, fn, args)
            if lane.waiting:
                self._ring.append(lane)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _lower_priority(nice: int) -> None:
    if nice <= 0:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (OSError, AttributeError):
        pass
