"""Run deadlines follow the wall clock, not the epoch thread's wake-ups (wasmops/wasm/_ticker.py).

The thread needs the GIL and a core for every tick; on a busy host it woke every 8-50 ms instead of
every 5 and advanced one tick each time, so a 300 ms deadline stopped a run at 0.5-2.8 s. Here the
thread's clock is made to jump, as it does for a thread that waited that long: a run must end at the
first wake-up after its deadline, and a run armed while ticks are owed must not be cut short when
they are paid."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, strategies as st

from support.wat import hostile
from wasmops.wasm import _ticker
from wasmops.wasm.sandbox import RunLimits, Sandbox

PERIOD_US = _ticker.EPOCH_TICK_MS * 1000


@given(start=st.integers(0, 10**9),
       gaps=st.lists(st.integers(0, 200 * PERIOD_US), min_size=1, max_size=40))
def test_due_keeps_ticks_with_the_wall_clock_never_ahead(start, gaps):
    """Whatever the wake-ups (early, on time, very late), the ticks paid by each wake-up equal the
    periods begun since the start: never more (a deadline early), never fewer (a deadline late)."""
    period = PERIOD_US / 1e6
    next_at, now, total = (start + PERIOD_US) / 1e6, start / 1e6, 0
    for g in gaps:
        now += g / 1e6
        n, next_at = _ticker.due(next_at, now, period)
        total += n
        assert n >= 0 and next_at > now
    begun = int(round((now - start / 1e6) * 1e6)) // PERIOD_US
    assert begun - 1 <= total <= begun      # within float rounding at an exact period boundary


class JumpingClock:
    """``time.monotonic`` for the epoch thread, plus a jump the test makes (a thread that was starved)."""

    def __init__(self):
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset


@pytest.fixture
def sb(monkeypatch):
    clock = JumpingClock()
    monkeypatch.setattr(_ticker, "time", clock)
    s = Sandbox()
    s._ticker._linger = 3600.0          # stays awake: owed ticks are the thing under test
    s.jump = clock
    yield s
    s.close()


def _loop(sb, ms: int):
    return sb.run(sb.load(hostile("loop")), limits=RunLimits(fuel=10**15, timeout_ms=ms, memory=4 * 2**20))


def test_a_run_ends_at_the_first_wake_up_after_its_deadline(sb):
    result, started = [], threading.Event()
    t = threading.Thread(target=lambda: (started.set(), result.append(_loop(sb, 60_000))))
    t.start()
    started.wait()
    while sb._ticker.ticks == 0 or not sb._ticker._runs:  # the run is in progress
        time.sleep(0.001)
    sb.jump.offset += 61.0              # the thread wakes 61 s after its last tick
    t.join(30)                          # one tick per wake-up would take another 60 s of wake-ups
    assert not t.is_alive(), "a run whose deadline had passed by the wall clock kept running"
    assert result[0].reason == "timeout"


def test_a_run_armed_while_ticks_are_owed_is_not_cut_short(sb):
    _loop(sb, 20)                       # the thread is awake and ticking
    sb.jump.offset += 10.0              # 2,000 ticks owed, paid at the thread's next wake-up
    t0 = time.perf_counter()
    r = _loop(sb, 200)
    assert r.reason == "timeout"
    assert time.perf_counter() - t0 >= 0.2, "the owed ticks were counted into the run's own deadline"
