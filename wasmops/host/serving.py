"""The host's process: one uvloop event loop serving ``HostApp`` on a listening socket until
SIGINT/SIGTERM (then the runtime closes and atexit removes the module I/O directory)."""

from __future__ import annotations

import asyncio
import signal
import socket

from ..errors import UserError
from .http import serve_socket
from .sched import favour_event_loop


def listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}", where=f"{host}:{port}",
                        hint="another process holds the port: stop it or pass --port") from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def run_server(app, host: str, port: int) -> None:
    import uvloop

    sock = listen(host, port)
    try:
        uvloop.run(_main(app, sock))
    finally:
        sock.close()


async def _main(app, sock: socket.socket) -> None:
    favour_event_loop()                 # this thread runs the event loop (sched.py)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve_socket(app, sock, stop)
