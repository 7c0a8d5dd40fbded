"""Session fixture ``registry``: a real CNCF distribution (Debian ``docker-registry``) on 127.0.0.1.

The fixture writes its own config (filesystem storage in a temp dir, HTTP on a free loopback port,
no auth: Debian's packaged config turns on htpasswd), starts ``docker-registry serve``, polls
``GET /v2/`` until it answers and yields ``"127.0.0.1:PORT"``. The yielded value is a ``str``
subclass that also carries ``.storage`` (the storage root) and ``.log`` (the server's output), for
tests that tamper with stored blobs or read the access log.

``start_registry(root, htpasswd=...)`` starts further registries, e.g. one that requires basic auth
(``htpasswd_line`` makes a bcrypt entry). A missing binary fails the test run: CI installs it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

BINARY = "docker-registry"


class RegistryAddress(str):
    """``"127.0.0.1:PORT"`` with the storage directory and log file attached."""

    storage: Path
    log: Path


class RegistryServer:
    def __init__(self, address: RegistryAddress, process: subprocess.Popen):
        self.address = address
        self.process = process

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def htpasswd_line(user: str, password: str) -> str:
    import bcrypt

    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"


def _binary() -> str:
    path = shutil.which(BINARY) or (f"/usr/bin/{BINARY}" if Path(f"/usr/bin/{BINARY}").exists() else None)
    if not path:
        pytest.fail(
            f"{BINARY} not found: the OCI registry tests need CNCF distribution "
            "(Debian: apt-get install docker-registry)",
            pytrace=False,
        )
    return path


def _config(storage: Path, port: int, htpasswd: Path | None) -> str:
    auth = (
        f"auth:\n  htpasswd:\n    realm: wasmops-test\n    path: {htpasswd}\n" if htpasswd else ""
    )
    return (
        "version: 0.1\n"
        "log:\n  level: error\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
        "  maintenance:\n    uploadpurging:\n      enabled: false\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: wasmops-test-secret\n"
        f"{auth}"
    )


def start_registry(root: Path, *, htpasswd: Path | None = None, ready_timeout_s: float = 20.0) -> RegistryServer:
    """Start ``docker-registry serve`` under ``root`` and return once ``/v2/`` answers."""
    binary = _binary()
    root.mkdir(parents=True, exist_ok=True)
    storage = root / "storage"
    storage.mkdir(exist_ok=True)
    last_log = ""
    for _attempt in range(3):  # another process may grab the free port between probe and bind
        port = free_port()
        config = root / "config.yml"
        config.write_text(_config(storage, port, htpasswd))
        log = root / f"registry-{port}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen([binary, "serve", str(config)], stdout=out, stderr=subprocess.STDOUT)
        address = RegistryAddress(f"127.0.0.1:{port}")
        address.storage, address.log = storage, log
        server = RegistryServer(address, process)
        deadline = time.monotonic() + ready_timeout_s
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    if client.get(f"http://{address}/v2/").status_code in (200, 401):
                        return server
                except httpx.TransportError:
                    pass
                time.sleep(0.02)  # polling readiness; the server gives no other signal
        server.stop()
        last_log = log.read_text(errors="replace")
        if "address already in use" not in last_log:
            break
    pytest.fail(f"{BINARY} did not become ready on 127.0.0.1; its output:\n{last_log}", pytrace=False)


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """A CNCF distribution 2.x registry without auth; yields ``"127.0.0.1:PORT"``."""
    server = start_registry(tmp_path_factory.mktemp("registry"))
    try:
        yield server.address
    finally:
        server.stop()
