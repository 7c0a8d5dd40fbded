"""The request head is bounded (docs/spec/host-api.md, "Slow clients and request size"), against a
real host process over raw sockets: a URL over 8 KiB is 414, more than 100 header fields or more
than 64 KiB of them is 431, answered at once in the host's JSON error shape and closed; a header
that never ends is cut off at 80 KiB without stalling the neighbours or growing the host.

Found from outside: ``X-Big:`` then 1 MiB blocks stalled the event loop for seconds (httptools
joins a header value by concatenation: quadratic), raised RSS by 330 MiB, and a 64 MiB URL and
6 million headers were answered 200."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rawhttp import assert_host_error, connect, read_reply, readable, request, rss, send_ignoring_reset
from support.host import HostProcess, make_workspace
from support.wat import FIXTURES
from wasmops.host.http import MAX_HEADER_BYTES, MAX_HEADERS, MAX_URL

MiB = 2**20
LIMITS = {"fuel": 50_000_000, "memory": "4Mi", "timeout_ms": 2000, "max_stdout": "1Mi"}
HYP = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def hp(tmp_path_factory):
    ws = make_workspace(tmp_path_factory.mktemp("limits"))
    hp = HostProcess(ws)
    c = hp.start("--workers", "1", "--threads", "2")
    ref, digest = ws.publish_wat("ok", (FIXTURES / "hostile" / "ok.wat").read_text())
    c.deploy("dev", "ok", ref=ref, digest=digest, limits=LIMITS)
    yield hp
    hp.stop()


def exchange(port: int, data: bytes):
    with connect(port) as s:
        s.sendall(data)
        return read_reply(s)


def assert_ok(r) -> None:
    assert r is not None and r.status == 200 and r.json() == {"ok": True}, r


@HYP
@given(st.one_of(st.integers(MAX_URL - 40, MAX_URL + 40), st.integers(20, 4 * MAX_URL)))
def test_a_url_over_8_kib_is_414_and_one_within_is_served(hp, size):
    path = "/run/dev/ok?q="
    url = path + "a" * (size - len(path))
    r = exchange(hp.port, request(url))
    if size <= MAX_URL:
        assert_ok(r)
    else:
        assert_host_error(r, 414, "UriTooLong")


@HYP
@given(st.one_of(st.integers(MAX_HEADERS - 5, MAX_HEADERS + 5), st.integers(0, 3 * MAX_HEADERS)))
def test_more_than_100_header_fields_is_431(hp, count):
    extra = [(f"X-H{i}", "v") for i in range(count - 2)]     # + Host and Content-Length
    r = exchange(hp.port, request("/run/dev/ok", headers=extra))
    if count <= MAX_HEADERS:
        assert_ok(r)
    else:
        assert_host_error(r, 431, "HeadersTooLarge")


@HYP
@given(st.one_of(st.integers(MAX_HEADER_BYTES - 40, MAX_HEADER_BYTES + 40), st.integers(100, 2 * MAX_HEADER_BYTES)),
       st.integers(1, 8))
def test_header_fields_over_64_kib_in_total_are_431(hp, total, pieces):
    """``total``: bytes of names and values, Host and Content-Length included, over ``pieces`` fields."""
    fixed = len("Host") + len("x") + len("Content-Length") + len("2")
    names = [f"X-P{i}" for i in range(pieces)]
    room = total - fixed - sum(map(len, names))
    sizes = [room // pieces + (i < room % pieces) for i in range(pieces)]
    r = exchange(hp.port, request("/run/dev/ok", headers=[(n, "v" * k) for n, k in zip(names, sizes)]))
    if total <= MAX_HEADER_BYTES:
        assert_ok(r)
    else:
        assert_host_error(r, 431, "HeadersTooLarge")


def test_a_header_that_never_ends_is_cut_off_and_the_neighbours_keep_their_pace(hp):
    """Up to 64 MiB of one header value in 4 KiB pieces: the host answers 431 once the raw head
    passes ``MAX_HEAD_RAW`` and reads no more, its RSS does not follow the header, and a neighbour's
    requests all come back meanwhile (before: seconds each, the event loop busy copying the value)."""
    with connect(hp.port) as warm:                      # the baseline after a few requests
        for _ in range(5):
            warm.sendall(request("/run/dev/ok"))
            assert_ok(read_reply(warm))
    base = rss(hp.proc.pid)
    stop, slowest = threading.Event(), [0.0]

    def neighbour():
        with connect(hp.port) as s:
            while not stop.is_set():
                t = time.monotonic()
                s.sendall(request("/run/dev/ok"))
                assert_ok(read_reply(s))
                slowest[0] = max(slowest[0], time.monotonic() - t)

    th = threading.Thread(target=neighbour)
    th.start()
    try:
        with connect(hp.port) as s:
            s.sendall(b"POST /run/dev/ok HTTP/1.1\r\nHost: x\r\nX-Big: ")
            sent = 0
            while sent < 64 * MiB and not readable(s, 0):
                if not send_ignoring_reset(s, b"a" * 4096):
                    break
                sent += 4096
            r = read_reply(s)
    finally:
        stop.set()
        th.join(60)
    assert_host_error(r, 431, "HeadersTooLarge")
    assert sent < 16 * MiB, sent        # refused long before the end (the rest: kernel socket buffers)
    assert slowest[0] < 2.0, slowest                    # generous: a request takes ~1 ms here
    assert rss(hp.proc.pid) < base + 32 * MiB
    assert_ok(exchange(hp.port, request("/run/dev/ok")))


def test_a_url_that_never_ends_is_414_before_the_client_is_done(hp):
    with connect(hp.port) as s:
        s.sendall(b"GET /run/dev/ok?q=")
        sent = 0
        while sent < 64 * MiB and not readable(s, 0):
            if not send_ignoring_reset(s, b"a" * 65536):
                break
            sent += 65536
        r = read_reply(s)
    assert_host_error(r, 414, "UriTooLong")
    assert sent < 4 * MiB, sent
