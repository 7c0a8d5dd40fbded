"""The host's request path in process, with no kernel in the way. Prints figures; asserts nothing.

One process holds the bare loop of issue 14 (default engine: ``Store`` + ``InstancePre.instantiate``
+ ``_start``, as ``bench/host.py`` runs it) and the host's own request path: a real ``Runtime``
(signed module admitted through the real admission, pooled ``Sandbox`` as a serving process has it),
the real ``HostApp`` and ``HttpProtocol`` fed requests through ``data_received`` on a fake transport
that keeps nothing. Each figure is the **CPU time of this thread per request** (``time.thread_time``;
the epoch ticker's thread is apart and given as process CPU beside it), the minimum over rounds
interleaved with the bare loop's, so a busy machine (other processes taking the cores) moves the
minimum little. Ratios are to the bare loop measured in the same process.

Paths (each a row):

* ``bare``: the bare loop (issue 14's physical limit);
* ``sandbox.run``: the sandbox alone, as the host calls it (limits, stdin, stdout, fuel/memory/CPU);
* ``app.handle``: ``HostApp.handle`` on a parsed ``Request`` (routing, pick, lane, run, metrics, response);
* ``http c1``: one request per ``data_received`` (what each read of a ``wrk -c1``/``-c8`` connection is);
* ``http pipelined 8``: eight requests per ``data_received`` (wrk's pipeline.lua);
* ``host layers``: ``http c1`` with ``sandbox.run`` stubbed (a kept result): HTTP, app, runtime and
  metrics alone, the part of the path ``wasmops/host`` owns.

Run: ``PYTHONPATH=$PWD .venv/bin/python bench/host_inproc.py [--rounds 40] [--n 1000] [--only "http c1"]``.
``--profile``: cProfile of one path (``--only``, default ``http c1``) instead, sorted by own time.
``--skip-bare``: absolute figures only, for comparing two trees (``PYTHONPATH=<other tree>``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import wasmtime  # noqa: E402

from support.wat import hostile  # noqa: E402

LIMITS = {"fuel": 10_000_000, "memory": "16Mi", "timeout_ms": 2000, "max_stdout": "1Mi"}   # bench/host.py's
REQUEST = b"POST /run/bench/trivial HTTP/1.1\r\nHost: 127.0.0.1:8700\r\nContent-Length: 2\r\n\r\n{}"
EXPECT = b'{"ok":true}'


class FakeTransport:
    """Takes what the protocol writes and keeps only a count of 200 answers with the module's body."""

    def __init__(self):
        self.ok = self.other = 0
        self.last = b""

    def write(self, data: bytes) -> None:
        if data.startswith(b"HTTP/1.1 200 ") and data.endswith(EXPECT):
            self.ok += 1
        else:
            self.other += 1
            self.last = data

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name, default=None):
        return default

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def is_closing(self) -> bool:
        return False


def host_setup(td: Path):
    """A workspace with the trivial module published and signed; a Runtime that admitted it as a
    serving process does (pooling allocator for 8 pool threads); the HostApp over it."""
    from support.host import make_workspace
    from wasmops.gitops.quarantine import quarantine_checker
    from wasmops.host.runtime import DeployRequest, Runtime
    from wasmops.host.server import HostApp
    from wasmops.host.workers import pool_slots
    from wasmops.supply.policy import policy_follower
    from wasmops.supply.signing import Keyring
    from wasmops.workspace import policy_path

    ws = make_workspace(td / "ws")
    ref, digest = ws.publish_wasm("trivial", hostile("ok"))
    s = ws.settings
    rt = Runtime.open(td / "host", cache_dir=td / "compiled", pool_slots=pool_slots(8),
                      keyring=Keyring.from_dir(s.trusted_keys_dir), policy=policy_follower(policy_path(s)),
                      quarantined=quarantine_checker(s))
    rt.deploy(DeployRequest(namespace="bench", name="trivial", ref=ref, digest=digest, limits=LIMITS))
    return rt, HostApp(rt, "token", workers=8)


def bare_body(wasm: bytes):
    """The bare loop of ``bench/host.py`` (default engine, no pooling), as a function of ``n``."""
    from wasmops.wasm.sandbox import Sandbox

    sb = Sandbox()
    prep = sb.load(wasm)
    eng, pre = sb.engine, prep.pre

    def run(n: int) -> None:
        for _ in range(n):
            st = wasmtime.Store(eng)
            st.set_fuel(10_000_000)
            st.set_epoch_deadline(400)
            st.set_limits(memory_size=16 * 2**20)
            st.set_wasi(wasmtime.WasiConfig())
            inst = pre.instantiate(st)
            inst.exports(st)["_start"](st)
    return run, sb


def paths(rt, app, loop):
    """name -> (function of n, requests per call of the inner step)."""
    from wasmops.host.http import HttpProtocol, Request, Response
    from wasmops.host.spin import Spinner, spin_seconds

    live = rt.live["bench/trivial"]
    dep = live.deployment
    sb = rt.sandbox

    from wasmops.wasm.sandbox import Preempted

    def sandbox_run(n):
        try:
            for _ in range(n):
                sb.run(live.prepared, stdin=b"{}", env=dep.env, args=dep.args, limits=live.run_limits,
                       program_name=dep.program_name, slice_ms=25, scratch=dep.scratch)
        except Preempted:
            raise Outgrew from None

    hdrs = {b"host": b"127.0.0.1:8700", b"content-length": b"2"}

    def handle(n):
        for _ in range(n):
            try:
                r = app.handle(Request("POST", "/run/bench/trivial", dict(hdrs), b"{}"))
            except RuntimeError:        # a pool run needs a running loop: the lane left the inline path
                lane_check()
                raise
            if not isinstance(r, Response):
                raise Outgrew

    def lane_check():
        """A run outgrew its 25 ms inline slice (a busy machine can stall one that long): the lane
        went to the pool, so this round measured something else; put it back and count it."""
        lane = app.sched.lane(dep.key)
        if not lane.inline:
            lane.inline = True
            raise Outgrew

    spinner = Spinner(loop, spin_seconds())
    transports = []

    def protocol():
        proto = HttpProtocol(app, set(), spinner)
        t = FakeTransport()
        proto.connection_made(t)
        transports.append(t)
        return proto

    batch = REQUEST * 8

    def http1(n):
        p = protocol()
        feed = p.data_received
        for _ in range(n):
            feed(REQUEST)
        if transports[-1].ok != n:
            lane_check()
            raise Outgrew

    def http8(n):
        p = protocol()
        feed = p.data_received
        for _ in range(n // 8):
            feed(batch)
        if transports[-1].ok != n // 8 * 8:
            lane_check()
            raise Outgrew

    result = sb.run(live.prepared, stdin=b"{}", env=dep.env, args=dep.args, limits=live.run_limits,
                    program_name=dep.program_name)

    def stubbed(n):
        """The host's own layers only: ``http c1`` with ``sandbox.run`` answering a kept result at once."""
        real = sb.run
        sb.run = lambda *a, **k: result
        try:
            http1(n)
        finally:
            del sb.run                  # the class's method again
        assert real == sb.run

    return {"sandbox.run": sandbox_run, "app.handle": handle, "http c1": http1, "http pipelined 8": http8,
            "host layers": stubbed}, transports


class Outgrew(Exception):
    """The module's lane left the inline path during a round: the round is not counted."""


def measure(fn, n: int) -> tuple[float, float] | None:
    """(thread CPU, process CPU) seconds per request of ``fn(n)``; None if the round is void."""
    t0, p0 = time.thread_time(), time.process_time()
    try:
        fn(n)
    except Outgrew:
        return None
    return (time.thread_time() - t0) / n, (time.process_time() - p0) / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--n", type=int, default=5_000)
    ap.add_argument("--only", default="", help="comma-separated paths (besides bare) to measure")
    ap.add_argument("--skip-bare", action="store_true", help="no bare loop: absolute figures only (A/B runs)")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--profile-top", type=int, default=40)
    ap.add_argument("--pin", type=int, default=-1, help="pin to this CPU (default: not pinned)")
    a = ap.parse_args()
    if a.pin >= 0:
        os.sched_setaffinity(0, {a.pin})
    import logging

    import uvloop

    logging.getLogger("wasmops.host").setLevel(logging.CRITICAL)   # a void round's 500s are counted, not logged
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as td:
        rt, app = host_setup(Path(td))
        try:
            fns, transports = paths(rt, app, loop)
            bare, bare_sb = bare_body(hostile("ok"))
            if a.profile:
                return profile(fns[a.only or "http c1"], a.n, a.profile_top)
            if a.only:
                fns = {k: v for k, v in fns.items() if k in a.only.split(",")}
            if not a.skip_bare:
                fns = {"bare": bare, **fns}
            best, void = interleaved(fns, a.rounds, a.n)
            report(best, a, transports, void)
            bare_sb.close()
        finally:
            app.close()
            rt.close()


def interleaved(fns: dict, rounds: int, n: int) -> tuple[dict, int]:
    """{path: (thread CPU, process CPU) per request, the min over rounds}, and how many rounds were void.
    Each round runs every path once, each path first in turn."""
    for fn in fns.values():
        measure(fn, 2000)                           # warm-up (a void one too)
    best = {k: (1.0, 1.0) for k in fns}
    void, names = 0, list(fns)
    for i in range(rounds):
        for k in names[i % len(names):] + names[:i % len(names)]:
            m = measure(fns[k], n)
            if m is None:
                void += 1
                continue
            best[k] = (min(best[k][0], m[0]), min(best[k][1], m[1]))
    return best, void


def report(best: dict, a, transports, void: int) -> None:
    b = best.get("bare", (float("nan"),))[0]
    print(f"in process, CPU per request, min of {a.rounds} rounds of {a.n:,} (load {os.getloadavg()[0]:.2f}):")
    for k, (t, p) in best.items():
        print(f"  {k:18s} {t*1e6:7.1f} µs thread CPU = {t / b:.2f}× bare   ({p*1e6:6.1f} µs process CPU)")
    ok, other = sum(t.ok for t in transports), sum(t.other for t in transports)
    last = next((t.last for t in reversed(transports) if t.last), b"")
    print(f"  answers: {ok:,} 200 with the module's body, {other} other (void rounds' 500s; last {last[:60]!r}); "
          f"rounds void (a run outgrew its inline slice): {void}")


def profile(fn, n: int, top: int) -> None:
    import cProfile
    import pstats

    measure(fn, 2000)
    pr = cProfile.Profile()
    for _ in range(max(1, n // 500)):       # in rounds: one that outgrows its slice is dropped, not the rest
        pr.enable()
        try:
            fn(500)
        except Outgrew:
            pass
        pr.disable()
    pstats.Stats(pr).sort_stats("tottime").print_stats(top)


if __name__ == "__main__":
    main()
