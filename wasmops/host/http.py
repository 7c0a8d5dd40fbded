"""A lean HTTP/1.1 server: an asyncio protocol on uvloop with the httptools parser.

Replaces uvicorn + ASGI on the invocation path (issue 14, docs/decisions.md): a request is parsed
in C, handed to ``app.handle(req)`` as one ``Request``, and the response goes out in one
``transport.write``. The handler returns either a ``Response`` (the inline fast path, no
coroutine, no task) or an awaitable of one.

Bounds, per connection (docs/spec/host-api.md, "Slow clients and request size"):

* the request head is bounded and answered at once, then the connection closed: a URL over
  ``MAX_URL`` bytes is 414, more than ``MAX_HEADERS`` header fields or more than ``MAX_HEADER_BYTES``
  of names and values is 431, and so is a head (stray CRLFs, request line, headers, whitespace:
  raw bytes) that grows past ``MAX_HEAD_RAW`` without ending. (httptools joins a header value
  that arrives in pieces by concatenation, so a never-ending header was quadratic in its length);
* a request body over the handler's limit is refused with 413 from ``Content-Length`` alone
  (``app.body_limit(path)``), or as soon as a chunked body passes it; the connection is closed;
* deadlines (checked once a second by ``_sweep``, so a cut-off comes up to 1 s late): a connection
  waiting for its next request is closed ``KEEPALIVE_S`` after the previous response was written (or
  after accept), and bytes that do not begin a request (CRLFs) do not move that; a request must
  arrive in full within ``REQUEST_TIMEOUT_S`` of its first byte; a response the client does not
  read (the transport's buffer stays over its high-water mark) for ``SEND_TIMEOUT_S`` gets the
  connection aborted, not closed (``close`` would wait for the flush forever);
* pipelined requests are answered in order, one at a time: reading pauses while one is being
  handled and while the transport's write buffer is over its high-water mark (back-pressure), so
  a client that pipelines and never reads holds one response, not all of them;
* a worker process holds at most ``MAX_CONNECTIONS`` connections; one more is answered 503
  ``Busy`` at once and closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import socket
import struct
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus

import httptools

from wasmops.config import current

from .spin import Spinner, spin_seconds


def _default_max_connections() -> int:
    """Half the process's file descriptors (the other half: module I/O files, state, registry pulls)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return max(64, min(10_000, soft // 2 if soft != resource.RLIM_INFINITY else 10_000))


# Deadlines and caps: Settings fields (WASMOPS_HOST_*), for tests and operators (docs/spec/host-api.md).
_s = current()
REQUEST_TIMEOUT_S = _s.host_request_timeout_s
KEEPALIVE_S = _s.host_keepalive_s
SEND_TIMEOUT_S = _s.host_send_timeout_s
MAX_CONNECTIONS = _s.host_max_connections or _default_max_connections()
MAX_URL = 8 * 1024                  # 414 past it
MAX_HEADERS = 100                   # 431 past it
MAX_HEADER_BYTES = 64 * 1024        # names + values; 431 past it
MAX_HEAD_RAW = MAX_URL + MAX_HEADER_BYTES + 8 * 1024     # raw head, with separators and whitespace; 431
_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}


@dataclass(slots=True)
class Request:
    method: str
    path: str
    headers: dict[bytes, bytes]
    body: bytes = b""


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    ctype: bytes = b"application/json"
    headers: Sequence[tuple[bytes, bytes]] = ()     # a run's answer has none beyond ``head``: no list to make
    close: bool = False
    head: bytes = b""       # header lines already encoded (``name: value\r\n`` each), before ``headers``


def json_response(status: int, obj, *, headers=(), close: bool = False) -> Response:
    return Response(status, json.dumps(obj).encode(), b"application/json", list(headers), close)


def error(status: int, name: str, message: str, *, retryable: bool = False, headers=()) -> Response:
    """The host's own error shape (docs/spec/host-api.md): ``{"error", "message", "retryable"}``."""
    return json_response(status, {"error": name, "message": message, "retryable": retryable}, headers=headers)


def encode(resp: Response, keep_alive: bool) -> bytes:
    extra = resp.head
    if resp.headers:
        extra += b"".join(k + b": " + v + b"\r\n" for k, v in resp.headers)
    close = b"connection: close\r\n" if not keep_alive or resp.close else b""
    return (b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n%s%s\r\n%s"
            % (resp.status, _REASONS.get(resp.status, b"Unknown"), resp.ctype, len(resp.body), extra, close, resp.body))


def _drop(t: asyncio.Transport) -> None:
    """Abort with a reset (SO_LINGER 0): a plain ``abort`` closes the fd, but the kernel would still
    hold the unsent bytes and keep the peer's connection open while it does not read."""
    sock = t.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_0)
    t.abort()


_LINGER_0 = struct.pack("ii", 1, 0)


class _Stop(Exception):
    """Raised from a parser callback after a refusal: httptools stops parsing the rest of the data."""


class HttpProtocol(asyncio.Protocol):
    """One connection. ``app`` has ``handle(Request) -> Response | Awaitable[Response]``,
    ``body_limit(path) -> int`` and ``too_large(path, size) -> Response``."""

    def __init__(self, app, conns: set | None = None, spinner=None):
        self.app = app
        self.spinner = spinner          # polls on after each response (spin.py); None: sleeps at once
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.closing: asyncio.Transport | None = None   # closed with unsent data: aborted at its deadline
        self.loop = asyncio.get_event_loop()
        self.pending: deque[tuple[Request, bool]] = deque()
        self.busy = False
        self.write_paused = False       # the transport's buffer is over its high-water mark
        self.reading = True
        self.deadline: float | None = None      # checked by the server's sweeper (``_sweep``), once a second
        self.conns = conns if conns is not None else set()
        self.counting = True            # raw bytes count towards ``MAX_HEAD_RAW`` (a head or a trailer)
        self.head_raw = 0
        self._reset()

    # -- connection --------------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        if len(self.conns) >= MAX_CONNECTIONS:
            transport.write(encode(error(503, "Busy", f"this host process holds {len(self.conns)} connections, "
                                         "its limit", retryable=True, headers=[(b"retry-after", b"1")]), False))
            transport.close()
            return
        self.transport = transport
        self.conns.add(self)
        self._arm(KEEPALIVE_S)

    def connection_lost(self, exc) -> None:
        self._disarm()
        self.conns.discard(self)
        self.transport = self.closing = None

    def data_received(self, data: bytes) -> None:
        if self.transport is None or self.refused:
            return
        if self.counting:
            self.head_raw += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "upgrades are not supported")
        except httptools.HttpParserError as exc:
            if not self.refused:
                self._fail(400, f"malformed request: {exc}")
        else:
            if self.counting and self.head_raw > MAX_HEAD_RAW and not self.refused:
                self._refuse(error(431, "HeadersTooLarge", f"request head of over {MAX_HEAD_RAW} bytes"))

    def pause_writing(self) -> None:
        """The client does not read as fast as we write: start nothing more until it does."""
        self.write_paused = True
        self._pause_reading()
        if not self.busy:
            self._arm(SEND_TIMEOUT_S)

    def resume_writing(self) -> None:
        self.write_paused = False
        self._ready()

    def _pause_reading(self) -> None:
        if self.reading and self.transport is not None:
            self.reading = False
            self.transport.pause_reading()

    def _fail(self, status: int, message: str) -> None:
        if self.transport is not None:
            self._refuse(error(status, "BadRequest", message))

    def _arm(self, seconds: float) -> None:
        """A deadline, not a timer: two ``call_later``/``cancel`` pairs per request cost more than the
        request's parsing; the server sweeps every connection once a second instead."""
        self.deadline = self.loop.time() + seconds

    def _disarm(self) -> None:
        self.deadline = None

    def _timed_out(self) -> None:
        """Slow or idle client: cut off, it held only its socket. A response it does not read is
        dropped (``abort``): ``close`` would wait to flush it."""
        self.deadline = None
        t = self.transport or self.closing
        if t is None or self.busy:
            return
        if t.get_write_buffer_size():
            _drop(t)
        else:
            t.close()
        self.transport = None

    # -- parser callbacks --------------------------------------------------------------------
    def _reset(self) -> None:
        self.url_parts: list[bytes] = []
        self.url_size = 0
        self.headers: dict[bytes, bytes] = {}
        self.nheaders = 0
        self.header_bytes = 0
        self.chunks: list[bytes] = []
        self.size = 0
        self.limit = 0
        self.in_request = False
        self.refused = False

    def on_message_begin(self) -> None:
        self._reset()
        self.in_request = True
        if not self.busy and not self.write_paused:
            self._arm(REQUEST_TIMEOUT_S)      # its first byte: CRLFs before it do not get here

    def on_url(self, url: bytes) -> None:
        self.url_size += len(url)
        if self.url_size > MAX_URL:
            self._refuse(error(414, "UriTooLong", f"request URL of over {MAX_URL} bytes"))
            raise _Stop
        self.url_parts.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.nheaders += 1
        self.header_bytes += len(name) + len(value)
        if self.nheaders > MAX_HEADERS:
            self._refuse(error(431, "HeadersTooLarge", f"more than {MAX_HEADERS} header fields"))
            raise _Stop
        if self.header_bytes > MAX_HEADER_BYTES:
            self._refuse(error(431, "HeadersTooLarge", f"header fields of over {MAX_HEADER_BYTES} bytes"))
            raise _Stop
        self.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        self.counting, self.head_raw = False, 0
        parts = self.url_parts
        self.url = parts[0] if len(parts) == 1 else b"".join(parts)
        self.path = path = self.url.split(b"?", 1)[0].decode("latin-1")
        self.limit = self.app.body_limit(path)
        length = self.headers.get(b"content-length", b"0").strip()
        if length.isdigit() and int(length) > self.limit:
            self._refuse(self.app.too_large(path, int(length), self.limit))
            raise _Stop
        if self.headers.get(b"expect", b"").lower() == b"100-continue" and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_chunk_header(self) -> None:
        self.counting, self.head_raw = True, 0   # until body bytes come: the last chunk's trailer

    def on_body(self, body: bytes) -> None:
        self.counting = False
        self.size += len(body)
        if self.size > self.limit:
            self._refuse(self.app.too_large(self.path, None, self.limit))
            raise _Stop
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.counting, self.head_raw = True, 0
        self.in_request = False
        chunks = self.chunks
        req = Request(self.parser.get_method().decode("latin-1"), self.path, self.headers,
                      chunks[0] if len(chunks) == 1 else b"".join(chunks))
        self.pending.append((req, self.parser.should_keep_alive()))
        if not self.busy and not self.write_paused:
            self._next()

    def _refuse(self, resp: Response) -> None:
        """Answer at once and close: the rest of the request is never read. Earlier pipelined
        requests not yet answered are answered first."""
        self.refused = True
        resp.close = True
        if self.busy or self.pending:
            self.pending.append((None, resp))
            self._pause_reading()
            return
        self._write(resp, False)

    # -- dispatch ----------------------------------------------------------------------------
    def _next(self) -> None:
        while self.pending and self.transport is not None and not self.write_paused:
            req, keep = self.pending.popleft()
            if req is None:
                return self._write(keep, False)
            try:
                resp = self.app.handle(req)
            except Exception as exc:  # noqa: BLE001 - the app answers its own errors; this is a last resort
                resp = self.app.internal_error(req, exc)
            if isinstance(resp, Response):
                self._write(resp, keep)
                continue
            self.busy = True
            self._disarm()
            self._pause_reading()
            task = asyncio.ensure_future(resp)
            task.add_done_callback(lambda t, req=req, keep=keep: self._finished(req, t, keep))
            return
        if self.transport is None or self.write_paused:
            return                                  # the send deadline (``pause_writing``) stands
        if self.in_request:
            self._arm(REQUEST_TIMEOUT_S)            # a pipelined request read before it
        else:
            self._arm(KEEPALIVE_S)                  # idle from this response on

    def _ready(self) -> None:
        """Nothing runs and the client reads: read and answer the next request."""
        if self.transport is None or self.busy or self.write_paused:
            return
        if not self.reading and not self.refused:
            self.reading = True
            self.transport.resume_reading()
        self._next()

    def _finished(self, req: Request, task: asyncio.Future, keep: bool) -> None:
        self.busy = False
        if self.transport is None or task.cancelled():
            return
        exc = task.exception()
        resp = self.app.internal_error(req, exc) if exc is not None else task.result()
        self._write(resp, keep)
        self._ready()

    def _write(self, resp: Response, keep: bool) -> None:
        if self.transport is None:
            return
        self.transport.write(encode(resp, keep))
        if self.spinner is not None:
            self.spinner.kick()
        if not keep or resp.close:
            t, self.transport = self.transport, None
            t.close()
            if t.get_write_buffer_size():
                self.closing = t
                self._arm(SEND_TIMEOUT_S)           # flushed by then, or aborted
            else:
                self._disarm()


SWEEP_S = 1.0


async def serve_socket(app, sock, stop: asyncio.Event) -> None:
    """Serve ``app`` on an already bound, listening socket until ``stop`` is set."""
    loop = asyncio.get_running_loop()
    conns: set[HttpProtocol] = set()
    spinner = Spinner(loop, spin_seconds())
    server = await loop.create_server(lambda: HttpProtocol(app, conns, spinner), sock=sock, backlog=1024)
    sweeper = asyncio.ensure_future(_sweep(loop, conns))
    try:
        await stop.wait()
    finally:
        sweeper.cancel()
        server.close()


async def _sweep(loop, conns: set) -> None:
    """Close connections past their deadline (slow request, idle keep-alive, unread response): late
    by at most ``SWEEP_S``."""
    while True:
        await asyncio.sleep(SWEEP_S)
        now = loop.time()
        for c in [c for c in conns if c.deadline is not None and c.deadline <= now]:
            c._timed_out()
