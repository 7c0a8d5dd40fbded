"""Back-pressure on responses (docs/spec/host-api.md, "Slow clients and request size"), against a
real host process over raw sockets: a client that pipelines requests and does not read holds one
response in the host, not all of them, and a response left unread past its deadline is dropped.

Found from outside: 24 pipelined requests for a module with 16 MiB of stdout, never read, took the
worker from 160 to 608 MiB for 40 s (every response was buffered, and ``close`` waits to flush)."""

from __future__ import annotations

import os
import time

import pytest

from rawhttp import TCP_CLOSE, connect, metric, read_reply, request, rss, tcp_state, wait_until
from support.host import HostProcess, make_workspace

MiB = 2**20
BLOCKS = 64                        # x 64 KiB: 4 MiB of stdout per run
BIG_WAT = f"""(module (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "_start") (local $i i32)
    (i32.store (i32.const 0) (i32.const 1024)) (i32.store (i32.const 4) (i32.const 65536))
    (loop $l
      (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const {BLOCKS}))))))"""
LIMITS = {"fuel": 10**9, "memory": "1Mi", "timeout_ms": 5000, "max_stdout": "16Mi"}
SEND_S = 2
PIPELINED = 24


def start(ws, **env) -> HostProcess:
    hp = HostProcess(ws)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update({k: str(v) for k, v in env.items()})
    try:
        hp.client = hp.start("--workers", "1", "--threads", "2")
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    ref, digest = ws.publish_wat("big", BIG_WAT)
    hp.client.deploy("dev", "big", ref=ref, digest=digest, limits=LIMITS)
    for _ in range(3):
        assert len(hp.client.run("dev", "big", b"").content) == BLOCKS * 65536
    return hp


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return make_workspace(tmp_path_factory.mktemp("backpressure"))


def runs(hp) -> float:
    return metric(hp.client.metrics(), "wasmops_invocations_total", module="big")


def test_pipelined_requests_wait_for_the_client_to_read_their_answers(ws):
    hp = start(ws)
    try:
        before, base = runs(hp), rss(hp.proc.pid)
        with connect(hp.port, rcvbuf=64 * 1024) as s:
            s.sendall(b"".join(request("/run/dev/big", b"") for _ in range(PIPELINED)))
            wait_until(lambda: runs(hp) > before, 30, "the first pipelined request ran")
            # The client reads nothing: the host stops after what fills the socket and its
            # transport's buffer (before: all 24 ran and were buffered, 96 MiB here).
            peak, end = 0, time.monotonic() + 2
            while time.monotonic() < end:
                assert runs(hp) - before <= 3, runs(hp) - before
                peak = max(peak, rss(hp.proc.pid))
            assert peak < base + 8 * 4 * MiB, (base / MiB, peak / MiB)
            buf = bytearray()
            for i in range(PIPELINED):                       # now read: every answer comes, in order
                r = read_reply(s, buf)
                assert r is not None and r.status == 200 and len(r.body) == BLOCKS * 65536, (i, r)
        assert runs(hp) - before == PIPELINED
    finally:
        hp.stop()


@pytest.mark.parametrize("close", [True, False], ids=["connection-close", "keep-alive-pipelined"])
def test_a_response_never_read_is_aborted_at_its_send_deadline(ws, close):
    """Before: ``close`` waited for a flush that never came and kept the response (and the socket)."""
    hp = start(ws, WASMOPS_HOST_SEND_TIMEOUT_S=SEND_S)
    try:
        base = rss(hp.proc.pid)
        with connect(hp.port, rcvbuf=64 * 1024) as s:
            extra = [("Connection", "close")] if close else []
            s.sendall(b"".join(request("/run/dev/big", b"", extra) for _ in range(1 if close else 3)))
            took = wait_until(lambda: tcp_state(s) == TCP_CLOSE, SEND_S + 30, "the host dropped the connection")
        assert took >= SEND_S - 0.5, took
        wait_until(lambda: rss(hp.proc.pid) < base + 16 * MiB, 20, "the unsent response was freed")
        assert len(hp.client.run("dev", "big", b"").content) == BLOCKS * 65536
    finally:
        hp.stop()
