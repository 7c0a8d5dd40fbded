"""Raw-socket HTTP for the tests of the host's HTTP layer (http.py): requests a client library
would refuse to send, and answers read byte for byte."""

from __future__ import annotations

import json
import select
import socket
import time
from pathlib import Path

TCP_CLOSE = 7       # tcp_info.tcpi_state (linux/tcp_states.h)


def connect(port: int, *, rcvbuf: int | None = None) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)    # before connect: the window
    s.settimeout(30)
    s.connect(("127.0.0.1", port))
    return s


def request(path: str, body: bytes = b"{}", headers: list[tuple[str, str]] = (), method: str = "POST") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.headers}, {self.body[:200]!r})"


def read_reply(s: socket.socket, buf: bytearray | None = None) -> Reply | None:
    """One response from ``s`` (``buf``: bytes already read past the previous one, kept for the next);
    None if the connection ended first."""
    buf = bytearray() if buf is None else buf
    while (end := buf.find(b"\r\n\r\n")) < 0:
        if not _recv_into(s, buf):
            return None
    head = bytes(buf[:end]).decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in head[1:])}
    size = int(headers.get("content-length", "0"))
    while len(buf) < end + 4 + size:
        if not _recv_into(s, buf):
            return None
    body = bytes(buf[end + 4:end + 4 + size])
    del buf[:end + 4 + size]
    return Reply(int(head[0].split()[1]), headers, body)


def _recv_into(s: socket.socket, buf: bytearray) -> bool:
    try:
        chunk = s.recv(1 << 20)
    except ConnectionResetError:
        return False
    buf += chunk
    return bool(chunk)


def send_ignoring_reset(s: socket.socket, data: bytes) -> bool:
    """False once the host has closed the connection."""
    try:
        s.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False


def readable(s: socket.socket, timeout: float) -> bool:
    return bool(select.select([s], [], [], timeout)[0])


def tcp_state(s: socket.socket) -> int:
    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


def wait_until(pred, within: float, what: str) -> float:
    """Poll ``pred`` (it does its own waiting, or is cheap) until true; seconds it took."""
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > within:
            raise AssertionError(f"not within {within} s: {what}")
        time.sleep(0.05)
    return time.monotonic() - t0


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def metric(text: str, name: str, **labels) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def assert_host_error(r: Reply | None, status: int, error: str) -> None:
    """The host's own error (docs/spec/host-api.md): JSON {"error", "message", "retryable"}, and the
    connection closes after it."""
    assert r is not None, "the connection closed without an answer"
    assert r.status == status, r
    assert r.headers["content-type"] == "application/json" and "x-wasmops-exit-code" not in r.headers
    body = r.json()
    assert set(body) == {"error", "message", "retryable"} and body["error"] == error, body
    assert r.headers.get("connection") == "close"
