"""The control channel between the host's supervisor and its worker processes.

One ``socketpair`` per worker (the worker's end is inherited by fd); messages are a 4-byte
big-endian length and a JSON object. Either side may ask (``request``: an ``id``, answered by a
message with ``re`` = that id) or be asked (the ``handler`` coroutine's return value is the
answer; an exception becomes ``{"error": ...}``). Nothing here is reachable from the network.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import struct
from typing import Awaitable, Callable

_HEAD = struct.Struct(">I")
MAX_MESSAGE = 64 * 2**20


class ChannelClosed(ConnectionError):
    """The other process went away (its end of the socketpair closed)."""


class RemoteError(RuntimeError):
    """The other side's handler failed; the message is its error."""


Handler = Callable[[dict], Awaitable[dict]]


class Channel:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler):
        self.reader, self.writer, self.handler = reader, writer, handler
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self.closed = asyncio.Event()
        self._task: asyncio.Task | None = None

    @classmethod
    async def open(cls, sock: socket.socket, handler: Handler) -> "Channel":
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=MAX_MESSAGE)
        ch = cls(reader, writer, handler)
        ch._task = asyncio.ensure_future(ch._read_loop())
        return ch

    def send(self, msg: dict) -> None:
        if self.closed.is_set():
            raise ChannelClosed("control channel is closed")
        data = json.dumps(msg, separators=(",", ":")).encode()
        self.writer.write(_HEAD.pack(len(data)) + data)

    async def request(self, msg: dict, timeout: float | None = None) -> dict:
        rid = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        try:
            self.send({**msg, "id": rid})
            reply = await asyncio.wait_for(fut, timeout)
        finally:
            self._waiting.pop(rid, None)
        if "error" in reply:
            raise RemoteError(reply["error"])
        reply.pop("re", None)
        return reply

    async def _read_loop(self) -> None:
        try:
            while True:
                head = await self.reader.readexactly(_HEAD.size)
                (n,) = _HEAD.unpack(head)
                msg = json.loads(await self.reader.readexactly(n))
                if "re" in msg:
                    fut = self._waiting.get(msg["re"])
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
                else:
                    asyncio.ensure_future(self._answer(msg))
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError):
            pass
        finally:
            self.closed.set()
            for fut in self._waiting.values():
                if not fut.done():
                    fut.set_exception(ChannelClosed("control channel closed while waiting for an answer"))
            self.writer.close()

    async def _answer(self, msg: dict) -> None:
        try:
            reply = await self.handler(msg)
        except Exception as exc:  # noqa: BLE001 - the asking side gets the error, this side keeps serving
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        if "id" in msg and not self.closed.is_set():
            try:
                self.send({**(reply or {}), "re": msg["id"]})
            except ChannelClosed:
                pass

    def close(self) -> None:
        self.writer.close()
        if self._task is not None:
            self._task.cancel()
