"""Neighbours under a flood (sched.py): while a looping module fills its pool lane, a calm module's
requests are answered inline, and the pool threads running the loops are lowered to the pool's
nice value as soon as a short run is served beside them (and only then). In process: a real Runtime, Sandbox
and HostApp with modules written here in WAT; the loops are ended by advancing the engine's epoch
past their deadline, not by waiting for it."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from pathlib import Path

import pytest
import wasmtime

from wasmops.host.http import Request
from wasmops.host.runtime import Runtime
from wasmops.host.sched import DEFAULT_POOL_NICE, HOST_SLICE_US, favour_event_loop
from wasmops.host.server import HostApp
from wasmops.host.state import Deployment, HostState, Limits
from wasmops.wasm.sandbox import Sandbox

SPIN = """(module (memory (export "memory") 1)
  (func (export "_start") (loop $forever (br $forever))))"""
# writes {"calm":1} to stdout through WASI fd_write
CALM = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{\\"calm\\":1}")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 10))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""
SPIN_TIMEOUT_MS = 120_000       # never reached: the test advances the epoch instead


def thread_nice(tid: int) -> int:
    """Field 19 of /proc/self/task/<tid>/stat: the thread's nice value, as the kernel sees it."""
    return int(Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()[16])


@pytest.fixture
def app(tmp_path):
    rt = Runtime(HostState(tmp_path / "state"), Sandbox(pool_slots=8), keyring=None, policy=lambda: None)
    for name, wat, timeout in (("spin", SPIN, SPIN_TIMEOUT_MS), ("calm", CALM, 2000)):
        wasm = wasmtime.wat2wasm(wat)
        digest = "sha256:" + hashlib.sha256(wasm).hexdigest()
        dep = Deployment(namespace="dev", name=name, ref=f"oci-layout://x:{name}", digest=digest, wasm_digest=digest,
                         limits=Limits(fuel=10**15, timeout_ms=timeout))
        rt.live[dep.key] = rt._load(dep, wasm)
    rt.sandbox.fuel_rate()          # calibrated now: a timed-out run's bill must not race the epoch advances
    app = HostApp(rt, "token", workers=3)
    yield app
    app.close()
    rt.close()


class Spins:
    """Records, for each pool run of ``dev/spin``, the thread it ran on; ``started`` counts them."""

    def __init__(self, app: HostApp):
        self.tids: list[int] = []
        self.started = threading.Semaphore(0)
        real = app.rt.invoke_live

        def invoke(live, body, slice_ms=None, *marks):     # marks: expect, probe
            if live.deployment.name == "spin" and slice_ms is None:
                self.tids.append(threading.get_native_id())
                self.started.release()
            return real(live, body, slice_ms, *marks)

        app.rt.invoke_live = invoke


def post(app: HostApp, name: str):
    return app.handle(Request("POST", f"/run/dev/{name}", {}, b"{}"))


async def end_spins(app: HostApp, pending: list) -> list:
    """Advance the epoch past the spins' deadline until every one has answered (queued ones start later)."""
    ticks = SPIN_TIMEOUT_MS // 5 + 10
    while not all(f.done() for f in pending):
        app.rt.sandbox.advance_epoch(ticks)
        await asyncio.wait(pending, timeout=0.05)
    return [f.result() for f in pending]


def test_a_calm_module_is_served_while_a_loop_floods_its_lane_and_the_loops_threads_are_lowered(app):
    spins = Spins(app)

    async def scenario():
        loop = asyncio.get_running_loop()
        first = post(app, "spin")            # inline first: stopped at the slice, then into the pool
        flood = [asyncio.ensure_future(first)] + [asyncio.ensure_future(post(app, "spin")) for _ in range(3)]
        for _ in range(2):                   # the lane's two pool runs are in flight (2 more wait)
            await loop.run_in_executor(None, spins.started.acquire)
        running = list(spins.tids)
        assert all(thread_nice(t) < DEFAULT_POOL_NICE for t in running)   # no short run yet: full priority
        calm = [post(app, "calm") for _ in range(20)]            # answered inline, beside the loops
        lowered = [thread_nice(t) for t in running]
        answers = await end_spins(app, flood)
        return calm, lowered, answers

    calm, lowered, answers = asyncio.run(scenario())
    assert [(r.status, r.body) for r in calm] == [(200, b'{"calm":1}')] * 20
    assert lowered == [DEFAULT_POOL_NICE] * 2                  # lowered while they ran
    assert [a.status for a in answers] == [504] * 4            # the loops still end with their timeout
    assert len(spins.tids) == 4
    lane = app.sched.lanes["dev/spin"]
    assert (lane.running, len(lane.waiting), app.sched._full) == (0, 0, {})


def test_a_lone_pool_run_keeps_its_priority_until_its_lane_floods_or_times_out(app):
    """A slow module answered one request at a time is not lowered beside short runs (lowered, it
    starved on a busy machine); once runs of its lane wait, or its last run timed out, it is."""
    spins = Spins(app)

    async def scenario():
        loop = asyncio.get_running_loop()
        seen = {}
        app.sched.lane("dev/spin").outgrew_slice()             # straight to the pool
        first = [asyncio.ensure_future(post(app, "spin"))]
        await loop.run_in_executor(None, spins.started.acquire)
        assert post(app, "calm").status == 200                  # a short run beside a lone pool run
        seen["lone"] = thread_nice(spins.tids[0])
        more = [asyncio.ensure_future(post(app, "spin")) for _ in range(2)]   # one more runs, one waits
        await asyncio.sleep(0)
        await loop.run_in_executor(None, spins.started.acquire)
        assert post(app, "calm").status == 200                  # now the lane is flooded
        seen["flooded"] = [thread_nice(t) for t in spins.tids[:2]]
        await end_spins(app, first + more)
        await loop.run_in_executor(None, spins.started.acquire)   # the run that waited has run too
        assert app.sched.lanes["dev/spin"].timed_out and len(spins.tids) == 3
        again = [asyncio.ensure_future(post(app, "spin"))]      # alone again, but its last run timed out
        await loop.run_in_executor(None, spins.started.acquire)
        assert post(app, "calm").status == 200
        seen["runaway"] = thread_nice(spins.tids[3])
        await end_spins(app, again)
        return seen

    seen = asyncio.run(scenario())
    assert seen["lone"] < DEFAULT_POOL_NICE
    assert seen["flooded"] == [DEFAULT_POOL_NICE] * 2 and seen["runaway"] == DEFAULT_POOL_NICE


def test_the_event_loop_thread_asks_for_a_short_slice():
    seen = {}

    def probe():
        seen["took"] = favour_event_loop()
        sched = Path("/proc/thread-self/sched")
        seen["slice"] = next((int(line.split(":")[1]) for line in sched.read_text().splitlines()
                              if line.startswith("se.slice")), None) if sched.exists() else None

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    assert seen["took"] is True                                 # the kernel accepted sched_setattr
    kernel = tuple(int(x) for x in os.uname().release.split(".")[:2])
    if kernel >= (6, 12) and seen["slice"] is not None:          # custom slices exist from 6.12 on
        assert seen["slice"] == HOST_SLICE_US * 1000
