"""Fairness and load shedding, against the real host process: a flood of runaway requests on one
module gets 503 with Retry-After at once past its lane, while another module's requests all succeed."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from rawhttp import connect, read_reply, request
from support.host import HostProcess, make_workspace
from support.wat import FIXTURES

WAT = {n: (FIXTURES / "hostile" / f"{n}.wat").read_text() for n in ("ok", "loop")}
LIMITS = {"fuel": 10**13, "memory": "4Mi", "timeout_ms": 1500, "max_stdout": "1Mi"}


@pytest.mark.parametrize("timeout_ms", [1500, 20])
def test_a_runaway_flood_is_shed_with_retry_after_and_a_neighbour_keeps_serving(tmp_path, timeout_ms):
    """``timeout_ms`` 20 is under the inline slice (25 ms): such a module used to run inline for ever,
    never shed, and a flood on it held the event loop (a neighbour's p50 went from 1 ms to 400 ms)."""
    ws = make_workspace(tmp_path / "ws")
    hp = HostProcess(ws)
    c = hp.start("--threads", "4", "--workers", "1")
    try:
        for name in ("runaway", "calm"):
            ref, digest = ws.publish_wat(name, WAT["loop" if name == "runaway" else "ok"])
            c.deploy("dev", name, ref=ref, digest=digest,
                     limits={**LIMITS, "timeout_ms": timeout_ms if name == "runaway" else LIMITS["timeout_ms"]})
        # 80 at once, each on a connection opened beforehand, so they arrive together however busy the
        # machine (80 threads each building a client used to trickle in slower than a 20 ms lane drains)
        socks = [connect(hp.port) for _ in range(80)]
        for s in socks:
            s.settimeout(60)
            s.sendall(request("/run/dev/runaway"))
        _wait_for_shedding(c)  # the runaway lane is full: the host has started refusing
        calm = [_post(c.url, "calm") for _ in range(30)]
        results = [read_reply(s) for s in socks]
        for s in socks:
            s.close()
        assert all(r.status_code == 200 and r.json() == {"ok": True} for r in calm), [r.status_code for r in calm]
        statuses = sorted(r.status for r in results)
        assert set(statuses) <= {503, 504}, statuses
        shed = [r for r in results if r.status == 503]
        timed_out = [r for r in results if r.status == 504]
        assert shed and all(r.headers["retry-after"] == "1" and r.json()["error"] == "Busy" for r in shed)
        assert all("x-wasmops-exit-code" not in r.headers for r in shed)            # the host answered
        assert all(r.headers["x-wasmops-error"] == "timeout" for r in timed_out)    # limits still hold
        if timeout_ms > 1000:                  # runs that outlast the flood's arrival: the lane's bound holds
            assert len(timed_out) <= 2 + 16 + 2    # the lane: 2 running, 16 waiting (+ the first inline try)
        text = c.metrics()
        line = next(l for l in text.splitlines() if l.startswith("wasmops_requests_shed_total{")
                    and 'module="runaway"' in l)
        assert float(line.rsplit(" ", 1)[1]) == len(shed)
    finally:
        hp.stop()


def test_a_slow_client_is_cut_off_and_holds_nothing(tmp_path, monkeypatch):
    from wasmops.host import http

    monkeypatch.setenv("WASMOPS_HOST_REQUEST_TIMEOUT_S", "2")     # the host's deadline, not the default 10 s
    ws = make_workspace(tmp_path / "ws")
    hp = HostProcess(ws)
    c = hp.start()
    try:
        s = socket.create_connection(("127.0.0.1", hp.port), timeout=30)
        s.sendall(b"POST /run/dev/x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{")   # never finishes
        t = time.monotonic()
        assert s.recv(1024) == b""                          # closed by the host
        assert 1.5 <= time.monotonic() - t <= 2 + http.SWEEP_S + 5  # by its deadline (swept once a second)
        assert c.ready()                                    # and it still serves
    finally:
        hp.stop()


def _post(url: str, name: str) -> httpx.Response:
    return httpx.post(f"{url}/run/dev/{name}", content=b"{}", timeout=30)


def _wait_for_shedding(c, deadline_s: float = 60.0) -> None:
    """Until the host has refused at least one runaway request (an event, not a sleep)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if any(l.startswith("wasmops_requests_shed_total{") and 'module="runaway"' in l
               and float(l.rsplit(" ", 1)[1]) > 0 for l in c.metrics().splitlines()):
            return
    raise AssertionError("the host never started shedding the runaway flood")
