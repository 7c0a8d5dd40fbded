"""The sandbox's clock: a thread that advances the engine's epoch every ``EPOCH_TICK_MS`` while runs
are in progress, and sleeps when none has run for a while.

Run deadlines are counted in its ticks (``wasmops.wasm._deadline``), each armed relative to the tick
count when its run starts, so ticks need only pass while some run is in progress. An idle host used
to tick 200 times a second for nothing: ~1.5 % of a core per worker process at rest, more on a busy
machine where each wake-up waits for a core. After ``LINGER_S`` without a run the thread sleeps until
the next run starts; under steady traffic it never sleeps, so a run never waits for it to wake.

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
        self.ticks = 0                # epochs advanced so far: the clock of run deadlines
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
        while not self._stop.is_set():
            if self._runs == 0 and time.monotonic() - self._last_run > self._linger:
                self._sleep()
                continue
            if self._stop.wait(self._period):
                return
            self.advance()
            for f in list(self.watched):
                f.check()

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
