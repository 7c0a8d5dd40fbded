"""Fixtures for a real running host process and a signed-artifact workspace."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import wasmtime

from wasmops.config import Settings
from wasmops.host.client import HostClient, endpoint
from wasmops.services import free_port

REPO = Path(__file__).resolve().parents[2]
WASMOPS = str(Path(sys.executable).with_name("wasmops"))


@dataclass
class Workspace:
    home: Path
    settings: Settings

    @property
    def env(self) -> dict:
        return {**os.environ, "WASMOPS_HOME": str(self.home)}

    def publish_wasm(self, name: str, wasm: bytes, *, sign: bool = True, key: Path | None = None) -> tuple[str, str]:
        """Write, sign and publish to the workspace OCI layout; returns (ref, manifest digest)."""
        from wasmops.supply.oci import publish
        from wasmops.supply.signing import sign_file

        d = self.home / "src"
        d.mkdir(exist_ok=True)
        path = d / f"{name}.wasm"
        path.write_bytes(wasm)
        bundle = sign_file(path, private_key_path=key or self.settings.private_key, backend="offline") if sign else None
        ref = f"oci-layout://{self.settings.oci_layout}:{name}"
        res = publish(path, ref, bundle_path=bundle)
        return ref, res.manifest_digest

    def publish_wat(self, name: str, wat: str, **kw) -> tuple[str, str]:
        return self.publish_wasm(name, wasmtime.wat2wasm(wat), **kw)


def make_workspace(home: Path) -> Workspace:
    from wasmops.workspace import init_workspace

    s = Settings(home=home)
    init_workspace(s)
    return Workspace(home, s)


class HostProcess:
    def __init__(self, ws: Workspace, port: int | None = None):
        self.ws = ws
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    def start(self, *extra: str) -> HostClient:
        log = open(self.ws.home / f"host-{self.port}.log", "ab")
        self.proc = subprocess.Popen([WASMOPS, "host", "--port", str(self.port), *extra], env=self.ws.env,
                                     stdout=log, stderr=subprocess.STDOUT)
        url, token = f"http://127.0.0.1:{self.port}", None
        client = HostClient(url)
        client.wait_ready(60)
        _, token = endpoint(self.ws.settings)
        return HostClient(url, token)

    def stop(self, sig: str = "term") -> None:
        if self.proc and self.proc.poll() is None:
            (self.proc.kill if sig == "kill" else self.proc.terminate)()
            self.proc.wait(15)


@contextmanager
def published_host(tmp_path_factory, name: str, wat: str, *start_args: str):
    """A host process on a new workspace with ``wat`` published as ``name``: ``(hp, client, ref, digest)``;
    stopped on exit (a module-scoped ``served`` fixture's body)."""
    ws = make_workspace(tmp_path_factory.mktemp("ws"))
    hp = HostProcess(ws)
    client = hp.start(*start_args)
    try:
        ref, digest = ws.publish_wat(name, wat)
        yield hp, client, ref, digest
    finally:
        hp.stop()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    return make_workspace(tmp_path_factory.mktemp("ws"))


@pytest.fixture(scope="module")
def host(workspace):
    hp = HostProcess(workspace)
    client = hp.start()
    client.process = hp
    yield client
    hp.stop()
