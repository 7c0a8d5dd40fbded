"""Slow clients and connection count (docs/spec/host-api.md, "Slow clients and request size"),
against a real host process over raw sockets, with its deadlines shortened through the environment.

Found from outside: a client that sent ``\\r\\n`` every 2 s before a request kept its connection for
ever (every byte re-armed the request deadline, and httptools skips leading CRLFs without starting
a request); 20,000 of them used up the host's file descriptors and locked everyone out."""

from __future__ import annotations

import contextlib
import os
import time

import pytest

from rawhttp import (TCP_CLOSE, assert_host_error, connect, read_reply, readable, request, send_ignoring_reset,
                     tcp_state, wait_until)
from support.host import HostProcess, make_workspace
from support.wat import FIXTURES

LIMITS = {"fuel": 50_000_000, "memory": "4Mi", "timeout_ms": 2000, "max_stdout": "1Mi"}
KEEPALIVE_S, REQUEST_S, MAX_CONNS = 3, 2, 12


def start_host(ws, **env) -> HostProcess:
    hp = HostProcess(ws)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update({k: str(v) for k, v in env.items()})
    try:
        c = hp.start("--workers", "1", "--threads", "2")
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    hp.client = c
    return hp


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    ws = make_workspace(tmp_path_factory.mktemp("slow"))
    ws.ok = ws.publish_wat("ok", (FIXTURES / "hostile" / "ok.wat").read_text())
    return ws


@pytest.fixture(scope="module")
def hp(ws):
    hp = start_host(ws, WASMOPS_HOST_KEEPALIVE_S=KEEPALIVE_S, WASMOPS_HOST_REQUEST_TIMEOUT_S=REQUEST_S)
    ref, digest = ws.ok
    hp.client.deploy("dev", "ok", ref=ref, digest=digest, limits=LIMITS)
    yield hp
    hp.stop()


def assert_ok(r) -> None:
    assert r is not None and r.status == 200 and r.json() == {"ok": True}, r


def drip_until_closed(s, within: float) -> float:
    """Send ``\\r\\n`` every 0.2 s until the host closes the connection; seconds that took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < within:
        if not send_ignoring_reset(s, b"\r\n"):
            return time.monotonic() - t0
        if readable(s, 0.2):
            with contextlib.suppress(ConnectionResetError):
                assert s.recv(4096) == b"", "the host answered CRLFs"
            return time.monotonic() - t0
    raise AssertionError(f"the host kept a connection that sent only CRLFs for {within} s")


def test_crlfs_before_a_request_do_not_extend_the_idle_deadline(hp):
    """Before: every byte re-armed the deadline, so the drip below went on for ever."""
    with connect(hp.port) as s:
        took = drip_until_closed(s, KEEPALIVE_S + 20)
    assert took >= KEEPALIVE_S - 1.5, took           # the keep-alive deadline, counted from accept


def test_the_idle_deadline_counts_from_the_previous_response(hp):
    with connect(hp.port) as s:
        s.sendall(request("/run/dev/ok"))
        assert_ok(read_reply(s))
        took = drip_until_closed(s, KEEPALIVE_S + 20)
    assert took >= KEEPALIVE_S - 1.5, took


def test_leading_crlfs_are_still_allowed_before_a_request(hp):
    with connect(hp.port) as s:
        s.sendall(b"\r\n\r\n" + request("/run/dev/ok"))
        assert_ok(read_reply(s))
        s.sendall(b"\r\n" + request("/run/dev/ok"))        # a stray CRLF after a body, as old clients send
        assert_ok(read_reply(s))


def test_a_request_begun_but_dripped_is_cut_off_by_its_own_deadline(hp):
    """One header byte every 0.2 s: each byte arrives, the request never ends; closed unanswered."""
    with connect(hp.port) as s:
        s.sendall(b"POST /run/dev/ok HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        t0 = time.monotonic()
        while send_ignoring_reset(s, b"a") and not readable(s, 0.2):
            assert time.monotonic() - t0 < REQUEST_S + 20, "a dripped request was never cut off"
        assert read_reply(s) is None


def test_a_pipelined_request_half_read_behind_a_pool_run_still_has_a_deadline(hp, ws):
    """Read while the request before it ran in the pool: its deadline restarts when reading does
    (before, it had none: the connection stayed until the client left)."""
    ref, digest = ws.publish_wat("spin", (FIXTURES / "hostile" / "loop.wat").read_text())
    hp.client.deploy("dev", "spin", ref=ref, digest=digest, limits={**LIMITS, "fuel": 10**13, "timeout_ms": 300})
    with connect(hp.port) as s:
        s.sendall(request("/run/dev/spin") + b"POST /run/dev/ok HTTP/1.1\r\nHost: x\r\nX-Never: ends")
        r = read_reply(s)
        assert r is not None and r.status == 504, r
        wait_until(lambda: tcp_state(s) == TCP_CLOSE or readable(s, 0.2), REQUEST_S + 20, "cut off")
        with contextlib.suppress(ConnectionResetError):
            assert s.recv(4096) == b""


def test_past_the_connection_cap_a_client_gets_503_busy_at_once_and_the_host_recovers(ws):
    hp = start_host(ws, WASMOPS_HOST_MAX_CONNECTIONS=MAX_CONNS)
    ref, digest = ws.ok
    hp.client.deploy("dev", "ok", ref=ref, digest=digest, limits=LIMITS)
    held = []
    try:
        refused = None
        for _ in range(MAX_CONNS + 1):             # the fixture's clients hold one or two already
            s = connect(hp.port)
            s.sendall(request("/run/dev/ok"))
            r = read_reply(s)
            if r.status != 200:
                refused = r
                s.close()
                break
            assert_ok(r)
            held.append(s)
        assert_host_error(refused, 503, "Busy")
        assert MAX_CONNS - 3 <= len(held) < MAX_CONNS, len(held)
        with connect(hp.port) as extra:
            r = read_reply(extra)                  # answered at once, before it sent anything
        assert_host_error(r, 503, "Busy")
        assert r.json()["retryable"] is True and r.headers["retry-after"] == "1"
        held.pop().close()

        def served() -> bool:
            with connect(hp.port) as s:
                s.sendall(request("/run/dev/ok"))
                r = read_reply(s)
            return r is not None and r.status == 200
        wait_until(served, 20, "a connection freed below the cap serves again")
        for s in held:                             # the ones held all along still work
            s.sendall(request("/run/dev/ok"))
            assert_ok(read_reply(s))
    finally:
        for s in held:
            s.close()
        hp.stop()
