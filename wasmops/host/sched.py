"""Where a run executes, and who waits: inline on the event loop, or a bounded, fair thread pool.

Everything here runs on the event loop thread (no locks), but ``PoolRun`` (called in a pool
thread, lowered by the loop). Each module has a ``Lane``:

* **inline** while its runs are short: the call runs on the event loop itself under an epoch
  *slice* (``INLINE_SLICE_MS``). No thread hop, no GIL hand-off: this is what brings the host
  near the bare wasmtime loop (docs/decisions.md, issue 14). A run that outgrows the slice is
  stopped (``Preempted``), run again from scratch in the pool with its full timeout, and its lane
  goes to the pool until ``SHORT_STREAK`` pool runs in a row are short again.
* **pool** otherwise: at most ``limit`` of the lane's runs at once (default
  ``DEFAULT_LANE_LIMIT``, always fewer than the pool's threads, so one module never holds them
  all), at most ``queue`` waiting; past that the request is refused at once (``Busy``: 503 with
  ``Retry-After``). A freed thread goes to the next lane in round-robin order, so a flood on one
  module waits behind its own queue only.

Neighbours under a flood (docs/decisions.md, "Host: neighbours under a flood"). On a shared core
the event loop needs ~80 % of the CPU to serve one calm client; beside four spinning pool threads
of equal weight it got a fifth. So, while short runs are being served, pool runs yield:

* every pool run starts at the process's own priority; if its lane is *pressing* (runs of it wait:
  flooded past its limit; or its last pool run timed out: running away), the first inline run
  served beside it lowers it to nice ``DEFAULT_POOL_NICE`` (``wasmops host --pool-nice N``; weight
  15 against the loop's 1024) for the rest of the run. A slow module answered in time, one request
  at a time, keeps its priority: lowered too, it starved on a busy machine (a 90 ms module beside a
  neighbour's flood and 3 CPU hogs on its core: 6 of 8 requests timed out at 5 s; now 8 of 8 in
  260-290 ms). With no short runs beside it, a pool run keeps its fair
  share of the machine (a window that also lowered runs starting up to 1 s after a short run was
  dropped: sequential tests on a loaded machine saw a lowered hostile run time out);
* the loop and the pool threads ask the kernel for a ``HOST_SLICE_US`` EEVDF slice (Linux ≥ 6.12,
  ``sched_setattr``, no privilege needed), so that a pool thread holding the GIL among spinning
  ones gets the core back within a fraction of a millisecond, not a 3 ms slice.

Not a fixed SCHED_IDLE or nice 19 for every pool thread: a lowered thread that holds the GIL and is
starved by other busy processes of its session stalls the event loop waiting for that GIL
(measured: a host froze for seconds beside two CPU hogs), and a long run on an otherwise idle host
would lose the machine to anything else running.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from .wire_errors import Busy  # noqa: F401  (its HTTP status: wire_errors)

log = logging.getLogger("wasmops.host")
DEFAULT_POOL_NICE = 19        # a pool run beside short ones: weight 15 against the event loop's 1024
HOST_SLICE_US = 100           # EEVDF slice of the loop and pool threads (the kernel's minimum; default ~3 ms); = Settings.host_slice_us

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
        self.timed_out = False          # its last pool run ran to its deadline

    @property
    def pressing(self) -> bool:
        """Flooded past its limit (runs waiting) or running away (its last pool run timed out): its
        pool runs yield the core to short runs. A slow module that answers in time, one request at a
        time, keeps its priority: lowered, it starved on a busy machine (a 150 ms module timed out at
        5 s at load 6-8 while a neighbour's short runs were served)."""
        return bool(self.waiting) or self.timed_out

    def outgrew_slice(self) -> None:
        self.inline, self.short_streak = False, 0

    def pool_run_took(self, cpu_seconds: float, timed_out: bool = False) -> None:
        """A pool run ended: short ones in a row send the lane back inline; one that ran to its
        deadline never counts as short (a loop under a 1 ms deadline would go back inline)."""
        self.timed_out = timed_out
        if cpu_seconds * 1000 <= SHORT_MS and not timed_out:
            self.short_streak += 1
            if self.short_streak >= SHORT_STREAK:
                self.inline = True
        else:
            self.short_streak = 0


class Scheduler:
    """A bounded thread pool shared fairly by lanes; call only from the event loop."""

    def __init__(self, threads: int, *, nice: int = DEFAULT_POOL_NICE):
        self.threads = max(1, threads)
        self.free = self.threads
        self.base = os.getpriority(os.PRIO_PROCESS, 0)          # this thread's nice: a pool run's "full"
        self.nice = max(self.base, nice) if nice > 0 else self.base
        if self.nice > self.base and not can_raise_back(self.base):
            log.warning("pool runs are not lowered (--pool-nice %d): this process may not raise a thread back "
                        "to nice %d (no CAP_SYS_NICE, RLIMIT_NICE %d), so a thread lowered once would run every "
                        "later run at nice %d; give it CAP_SYS_NICE or RLIMIT_NICE >= %d to use it",
                        self.nice, self.base, resource.getrlimit(resource.RLIMIT_NICE)[0], self.nice,
                        20 - self.base)
            self.nice = self.base
        self.pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="wasmops-run",
                                       initializer=_pool_thread_start)
        self._full: dict[PoolRun, Lane] = {}     # pool runs in flight at full priority, and their lanes
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

    def short_run(self) -> None:
        """The loop has served a short call inline: the pool runs in flight of pressing lanes
        (:attr:`Lane.pressing`) drop to nice ``self.nice``."""
        if self._full:
            for run in [r for r, lane in self._full.items() if lane.pressing]:
                run.lower(self.nice)
                del self._full[run]

    def _start(self, lane: Lane, fut: asyncio.Future, fn: Callable, args: tuple) -> None:
        lane.running += 1
        self.free -= 1
        loop = asyncio.get_running_loop()
        run = PoolRun(self.base)                # full priority until a short run is served beside it
        if self.nice > self.base:
            self._full[run] = lane
        cf = self.pool.submit(run, fn, args)
        cf.add_done_callback(lambda f: loop.call_soon_threadsafe(self._done, lane, fut, f, run))

    def _done(self, lane: Lane, fut: asyncio.Future, cf, run: "PoolRun") -> None:
        lane.running -= 1
        self.free += 1
        self._full.pop(run, None)
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


class PoolRun:
    """One run in a pool thread, at the nice value the scheduler gives it (the process's own, or
    lowered while short runs are being served). The thread sets its priority at the start of each
    run; the event loop may lower it mid-run (``lower``). Raising a thread back needs CAP_SYS_NICE
    (or RLIMIT_NICE): without it the scheduler does not lower at all (``can_raise_back``), since a
    thread once lowered would run every later run lowered (a slow module beside a flood starved so)."""

    __slots__ = ("nice", "tid", "_lock")

    def __init__(self, nice: int):
        self.nice, self.tid, self._lock = nice, None, threading.Lock()

    def __call__(self, fn: Callable, args: tuple):
        with self._lock:
            self.tid = threading.get_native_id()
            _renice(self.tid, self.nice)
        return fn(*args)

    def lower(self, nice: int) -> None:
        with self._lock:
            self.nice = nice
            if self.tid is not None:
                _renice(self.tid, nice)


def can_raise_back(base: int) -> bool:
    """Whether this process may set a thread's nice back to ``base`` after lowering it: with
    CAP_SYS_NICE, or an RLIMIT_NICE that allows ``base`` (a nice value down to ``20 - limit``)."""
    soft = resource.getrlimit(resource.RLIMIT_NICE)[0]
    if soft == resource.RLIM_INFINITY or 20 - soft <= base:
        return True
    try:
        with open("/proc/self/status") as f:
            caps = next((ln.split()[1] for ln in f if ln.startswith("CapEff:")), "0")
    except OSError:
        return False
    return bool(int(caps, 16) >> _CAP_SYS_NICE & 1)


_CAP_SYS_NICE = 23


def _renice(tid: int, nice: int) -> None:
    try:
        if os.getpriority(os.PRIO_PROCESS, tid) != nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
    except OSError:
        pass            # EPERM (raising back without CAP_SYS_NICE), or the thread is gone


def _pool_thread_start() -> None:
    """A short slice (``slice_us``): a pool thread that holds the GIL among spinning ones gets the
    core back within a fraction of a millisecond, and so does the event loop."""
    set_slice(slice_us())


_SYS_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}


def slice_us() -> int:
    """``WASMOPS_HOST_SLICE_US`` (a ``Settings`` field, default ``HOST_SLICE_US``; 0: leave the kernel's slice)."""
    from ..config import current

    return current().host_slice_us


def favour_event_loop() -> bool:
    """A short EEVDF slice for the calling thread, the event loop: a woken task with a shorter slice
    preempts the running one at once (Linux ≥ 6.12; older kernels ignore it). True if the kernel took it."""
    return set_slice(slice_us())


def set_slice(slice_us: int) -> bool:
    """``sched_setattr`` of the calling thread: SCHED_OTHER, its nice value kept (so no privilege is
    needed), ``sched_runtime`` = ``slice_us`` (EEVDF's custom slice, clamped by the kernel to 0.1–100 ms)."""
    import ctypes
    import platform
    import struct

    nr = _SYS_SCHED_SETATTR.get(platform.machine())
    if slice_us <= 0 or nr is None:
        return False
    tid = threading.get_native_id()
    try:
        # struct sched_attr (VER1, 56 bytes): size, policy, flags, nice, priority, runtime, deadline, period, util min/max
        attr = ctypes.create_string_buffer(struct.pack("IIQiIQQQII", 56, os.SCHED_OTHER, 0,
                                                       os.getpriority(os.PRIO_PROCESS, tid), 0,
                                                       slice_us * 1000, 0, 0, 0, 0), 56)
        return ctypes.CDLL(None, use_errno=True).syscall(nr, tid, attr, 0) == 0
    except (OSError, AttributeError):
        return False
