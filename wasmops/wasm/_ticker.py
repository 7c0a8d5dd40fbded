"""The sandbox's clock: a thread that advances the engine's epoch every ``EPOCH_TICK_MS`` while runs
are in progress, and sleeps when none has run for a while.

Run deadlines are counted in its ticks (``wasmops.wasm._deadline``), each armed relative to the tick
count when its run starts, so ticks need only pass while some run is in progress. An idle host used
to tick 200 times a second for nothing: ~1.5 % of a core per worker process at rest, more on a busy
machine where each wake-up waits for a core. After ``LINGER_S`` without a run the thread sleeps until
the next run starts; under steady traffic it never sleeps, so a run never waits for it to wake.

The ticks follow the wall clock, not the thread's wake-ups: each wake-up advances by the periods that
have passed since the last one (:func:`due`). The thread needs the GIL for each wake-up, and on a busy
host (the event loop holding the GIL, other processes holding the cores) a 5 ms wait often lasted
8-50 ms; one tick per wake-up then stretched a 300 ms deadline to 0.5 s, and to 2.8 s beside two
Python threads that kept the GIL busy (``/tmp`` measurement in docs/decisions.md, "Deadlines follow
the wall clock"). A run now ends at the first wake-up after its deadline.

The wake-up is race-free without a lock on the run's side: a run counts itself in, then reads
``sleeping``; the thread sets ``sleeping``, then reads the count. Under the GIL one of the two sees
the other's write, so either the thread does not sleep or the run wakes it.
"""

from __future__ import annotations

import threading
import time

import wasmtime

EPOCH_TICK_MS = 5
LINGER_S = 0.5
MAX_CATCH_UP = 100_000          # ticks in one wake-up (500 s): a suspended process does not loop for hours


def due(next_at: float, now: float, period: float) -> tuple[int, float]:
    """Ticks to advance at ``now`` for a tick that was due at ``next_at``, and when the next one is due.

    >>> due(1.0, 1.0, 0.005)
    (1, 1.005)
    >>> due(1.0, 1.0124, 0.005)       # woke 12.4 ms late: 3 periods have begun since
    (3, 1.015)
    >>> due(1.0, 0.999, 0.005)        # woke early (a spurious wake-up): nothing is due yet
    (0, 1.0)
    """
    if now < next_at:
        return 0, next_at
    n = min(MAX_CATCH_UP, 1 + int((now - next_at) // period))
    return n, (next_at + n * period if n < MAX_CATCH_UP else now + period)


class EpochTicker:
    """One daemon thread per engine; :meth:`running` brackets each run."""

    def __init__(self, engine: wasmtime.Engine, tick_ms: int = EPOCH_TICK_MS, linger_s: float = LINGER_S):
        self._engines = [engine]      # the sandbox's engines: core modules', and components' once one runs
        self._period, self._linger = tick_ms / 1000, linger_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._count = threading.Lock()
        self._runs = 0
        self._last_run = time.monotonic()
        self.sleeping = False
        self.watched: set = set()     # out-files whose caps are checked on every tick
        self.ticks = 0                # epochs advanced so far
        self._next_at: float | None = None  # when the next tick is due (None: asleep)
        self._thread = threading.Thread(target=self._loop, name="wasmops-epoch", daemon=True)
        self._thread.start()

    def enter(self) -> None:
        with self._count:
            self._runs += 1
        if self.sleeping:
            self._wake.set()

    def leave(self) -> None:
        with self._count:
            self._runs -= 1
            self._last_run = time.monotonic()

    def _loop(self) -> None:
        self._next_at = time.monotonic() + self._period
        while not self._stop.is_set():
            if self._runs == 0 and time.monotonic() - self._last_run > self._linger:
                self._next_at = None            # asleep: no tick is owed while no run is in progress
                self._sleep()
                self._next_at = time.monotonic() + self._period
                continue
            if self._stop.wait(max(0.0, self._next_at - time.monotonic())):
                return
            n, next_at = due(self._next_at, time.monotonic(), self._period)
            if n == 0:
                continue
            self.advance(n)                     # ticks first: a reader in between counts n twice (later, never early)
            self._next_at = next_at
            for f in list(self.watched):
                f.check()

    def now(self) -> int:
        """The tick count by the wall clock: what :attr:`ticks` will be once the thread, perhaps waiting for
        the GIL or a core, has caught up. Deadlines are armed from this, so a run that starts while ticks
        are owed is not stopped early when they are paid."""
        next_at = self._next_at
        if next_at is None:
            return self.ticks
        return self.ticks + due(next_at, time.monotonic(), self._period)[0]

    def _sleep(self) -> None:
        self.sleeping = True
        if self._runs == 0 and not self._stop.is_set():
            self._wake.wait()
        self._wake.clear()
        self.sleeping = False

    def advance(self, ticks: int = 1) -> None:
        """Move time on by ``ticks``: the engine's epoch and the run deadlines' clock together."""
        for _ in range(ticks):
            for engine in self._engines:
                engine.increment_epoch()
        self.ticks += ticks

    def add_engine(self, engine: wasmtime.Engine) -> None:
        """Tick ``engine`` too, on the same clock (the sandbox's engine for components)."""
        self._engines = [*self._engines, engine]

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
