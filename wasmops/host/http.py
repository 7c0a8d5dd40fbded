"""A lean HTTP/1.1 server: an asyncio protocol on uvloop with the httptools parser.

Replaces uvicorn + ASGI on the invocation path (issue 14, docs/decisions.md): a request is parsed
in C, handed to ``app.handle(req)`` as one ``Request``, and the response goes out in one
``transport.write``. The handler returns either a ``Response`` (the inline fast path, no
coroutine, no task) or an awaitable of one.

Bounds, per connection:

* a request body over the handler's limit is refused with 413 from ``Content-Length`` alone
  (``app.body_limit(path)``), or as soon as a chunked body passes it; the connection is closed;
* a request must arrive in full within ``REQUEST_TIMEOUT_S`` of its first byte (slowloris), and
  an idle keep-alive connection is closed after ``KEEPALIVE_S``: a slow client holds no thread and
  only its own socket (deadlines are checked once a second, so a cut-off comes up to 1 s late);
* pipelined requests are answered in order; reading pauses while one is being handled.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus

import httptools

REQUEST_TIMEOUT_S = 10.0
KEEPALIVE_S = 30.0
_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}


@dataclass
class Request:
    method: str
    path: str
    headers: dict[bytes, bytes]
    body: bytes = b""


@dataclass
class Response:
    status: int
    body: bytes
    ctype: bytes = b"application/json"
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    close: bool = False
    head: bytes = b""       # header lines already encoded (``name: value\r\n`` each), before ``headers``


def json_response(status: int, obj, *, headers=(), close: bool = False) -> Response:
    return Response(status, json.dumps(obj).encode(), b"application/json", list(headers), close)


def encode(resp: Response, keep_alive: bool) -> bytes:
    extra = resp.head
    if resp.headers:
        extra += b"".join(k + b": " + v + b"\r\n" for k, v in resp.headers)
    close = b"connection: close\r\n" if not keep_alive or resp.close else b""
    return (b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n%s%s\r\n%s"
            % (resp.status, _REASONS.get(resp.status, b"Unknown"), resp.ctype, len(resp.body), extra, close, resp.body))


class HttpProtocol(asyncio.Protocol):
    """One connection. ``app`` has ``handle(Request) -> Response | Awaitable[Response]``,
    ``body_limit(path) -> int`` and ``too_large(path, size) -> Response``."""

    def __init__(self, app, conns: set | None = None):
        self.app = app
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_event_loop()
        self.pending: deque[tuple[Request, bool]] = deque()
        self.busy = False
        self.deadline: float | None = None      # checked by the server's sweeper (``_sweep``), once a second
        self.conns = conns if conns is not None else set()
        self._reset()

    # -- connection --------------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.conns.add(self)
        self._arm(KEEPALIVE_S)

    def connection_lost(self, exc) -> None:
        self._disarm()
        self.conns.discard(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        if self.transport is None:
            return
        if not self.in_request:
            self._arm(REQUEST_TIMEOUT_S)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "upgrades are not supported")
        except httptools.HttpParserError as exc:
            if self.transport is not None and not self.refused:
                self._fail(400, f"malformed request: {exc}")

    def _fail(self, status: int, message: str) -> None:
        self._write(json_response(status, {"error": "BadRequest", "message": message, "retryable": False}), False)

    def _arm(self, seconds: float) -> None:
        """A deadline, not a timer: two ``call_later``/``cancel`` pairs per request cost more than the
        request's parsing; the server sweeps every connection once a second instead."""
        self.deadline = self.loop.time() + seconds

    def _disarm(self) -> None:
        self.deadline = None

    def _timed_out(self) -> None:
        self.deadline = None
        if self.transport is not None and not self.busy:
            self.transport.close()     # slow or idle client: cut off, it held only its socket

    # -- parser callbacks --------------------------------------------------------------------
    def _reset(self) -> None:
        self.url = b""
        self.headers: dict[bytes, bytes] = {}
        self.chunks: list[bytes] = []
        self.size = 0
        self.limit = 0
        self.in_request = False
        self.refused = False

    def on_message_begin(self) -> None:
        self._reset()
        self.in_request = True

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        path = self.url.split(b"?", 1)[0].decode("latin-1")
        self.limit = self.app.body_limit(path)
        length = self.headers.get(b"content-length", b"0").strip()
        if length.isdigit() and int(length) > self.limit:
            return self._refuse(self.app.too_large(path, int(length), self.limit))
        if self.headers.get(b"expect", b"").lower() == b"100-continue" and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        if self.refused:
            return
        self.size += len(body)
        if self.size > self.limit:
            path = self.url.split(b"?", 1)[0].decode("latin-1")
            return self._refuse(self.app.too_large(path, None, self.limit))
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        if self.refused:
            return
        self.in_request = False
        req = Request(self.parser.get_method().decode("latin-1"), self.url.split(b"?", 1)[0].decode("latin-1"),
                      self.headers, b"".join(self.chunks))
        self.pending.append((req, self.parser.should_keep_alive()))
        if not self.busy:
            self._next()

    def _refuse(self, resp: Response) -> None:
        """Answer at once and close: the rest of the body is never read."""
        self.refused = True
        resp.close = True
        if self.busy:          # answer the earlier pipelined requests first
            self.pending.append((None, resp))
            return
        self._write(resp, False)

    # -- dispatch ----------------------------------------------------------------------------
    def _next(self) -> None:
        while self.pending and self.transport is not None:
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
            self.transport.pause_reading()
            task = asyncio.ensure_future(resp)
            task.add_done_callback(lambda t, req=req, keep=keep: self._finished(req, t, keep))
            return
        if self.transport is not None and not self.in_request:
            self._arm(KEEPALIVE_S)

    def _finished(self, req: Request, task: asyncio.Future, keep: bool) -> None:
        self.busy = False
        if self.transport is None or task.cancelled():
            return
        exc = task.exception()
        resp = self.app.internal_error(req, exc) if exc is not None else task.result()
        self._write(resp, keep)
        if self.transport is not None:
            self.transport.resume_reading()
            self._next()

    def _write(self, resp: Response, keep: bool) -> None:
        if self.transport is None:
            return
        self.transport.write(encode(resp, keep))
        if not keep or resp.close:
            self._disarm()
            self.transport.close()
            self.transport = None


SWEEP_S = 1.0


async def serve_socket(app, sock, stop: asyncio.Event) -> None:
    """Serve ``app`` on an already bound, listening socket until ``stop`` is set."""
    loop = asyncio.get_running_loop()
    conns: set[HttpProtocol] = set()
    server = await loop.create_server(lambda: HttpProtocol(app, conns), sock=sock, backlog=1024)
    sweeper = asyncio.ensure_future(_sweep(loop, conns))
    try:
        await stop.wait()
    finally:
        sweeper.cancel()
        server.close()


async def _sweep(loop, conns: set) -> None:
    """Close connections past their deadline (slow request, idle keep-alive): late by at most ``SWEEP_S``."""
    while True:
        await asyncio.sleep(SWEEP_S)
        now = loop.time()
        for c in [c for c in conns if c.deadline is not None and c.deadline <= now]:
            c._timed_out()
