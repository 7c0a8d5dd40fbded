"""The sandbox's clock sleeps when nothing runs (wasmops/wasm/_ticker.py), and a run always wakes it:
a module that loops forever still ends at its timeout after the clock has slept, from many threads at
once, and an idle sandbox stops ticking, and close() ends its thread."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings, strategies as st

from support.wat import hostile
from wasmops.wasm.sandbox import RunLimits, Sandbox


@pytest.fixture(scope="module")
def sb():
    s = Sandbox()
    s._ticker._linger = 0.0              # sleep as soon as no run is in progress: the hardest case
    yield s
    s.close()


def _asleep(sb, within: float = 30.0) -> None:
    end = time.monotonic() + within
    while not sb._ticker.sleeping:
        assert time.monotonic() < end, "the clock never went to sleep with nothing running"
        time.sleep(0.001)


def _loop_until_timeout(sb, ms: int):
    return sb.run(sb.load(hostile("loop")), limits=RunLimits(fuel=10**15, timeout_ms=ms, memory=4 * 2**20))


def test_a_run_after_the_clock_slept_still_ends_at_its_timeout(sb):
    _asleep(sb)
    r = _loop_until_timeout(sb, 150)
    assert r.reason == "timeout"


@settings(max_examples=8, deadline=None)
@given(threads=st.integers(1, 6), ms=st.sampled_from([20, 60, 120]), stagger=st.lists(st.floats(0, 0.03), min_size=6, max_size=6))
def test_concurrent_runs_started_around_the_clocks_sleep_all_time_out(sb, threads, ms, stagger):
    _asleep(sb)
    results, errors = [], []

    def one(i):
        time.sleep(stagger[i])          # runs begin while the clock sleeps, wakes, and would sleep again
        try:
            results.append(_loop_until_timeout(sb, ms).reason)
        except Exception as exc:        # noqa: BLE001 - reported below
            errors.append(exc)

    ts = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)                      # a run the clock forgot would loop forever: this names it
        assert not t.is_alive(), "a run never reached its timeout: the clock slept through it"
    assert not errors and results == ["timeout"] * threads


def test_an_idle_sandbox_stops_ticking_after_its_linger():
    s = Sandbox()                       # the default linger
    try:
        _asleep(s)
        before = s._ticker.ticks
        s._ticker._thread.join(0.3)     # 60 ticks' worth of doing nothing
        assert s._ticker.ticks == before and s._ticker._thread.is_alive()
    finally:
        s.close()
    s._ticker._thread.join(5)
    assert not s._ticker._thread.is_alive(), "close() did not end a sleeping clock's thread"
