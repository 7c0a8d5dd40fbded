"""Fixtures for the OCI tests: dummy Wasm modules, a dummy Sigstore bundle, skopeo."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess

import pytest
import wasmtime

ANNOTATIONS = {
    "org.opencontainers.image.source": "https://git.example.invalid/wasmops/hello",
    "org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
    "org.opencontainers.image.created": "2026-01-02T03:04:05Z",
}


def wasm_bytes(data_size: int = 0) -> bytes:
    """A module exporting ``_start``; with ``data_size`` it carries that many bytes of data."""
    if not data_size:
        return wasmtime.wat2wasm('(module (func (export "_start")))')
    data = random.Random(data_size).randbytes(data_size)
    pages = data_size // 65536 + 1
    escaped = "".join(f"\\{b:02x}" for b in data)
    return wasmtime.wat2wasm(
        f'(module (memory {pages}) (data (i32.const 0) "{escaped}") (func (export "_start")))'
    )


@pytest.fixture
def annotations():
    """The annotations a release passes: source, revision and a fixed creation time."""
    return dict(ANNOTATIONS)


@pytest.fixture
def make_wasm(tmp_path):
    """``make_wasm(name, data_size)`` writes a module with that much data and returns its path."""

    def make(name: str = "module.wasm", data_size: int = 0):
        path = tmp_path / name
        path.write_bytes(wasm_bytes(data_size))
        return path

    return make


@pytest.fixture
def make_bundle(tmp_path):
    """``make_bundle(name, signature)`` writes a dummy Sigstore bundle and returns its path."""

    def make(name: str = "bundle.json", signature: str = "MEUCIQDdummy"):
        path = tmp_path / name
        path.write_bytes(bundle_json(signature))
        return path

    return make


@pytest.fixture
def wasm_file(tmp_path):
    path = tmp_path / "hello.wasm"
    path.write_bytes(wasm_bytes())
    return path


@pytest.fixture
def big_wasm_file(tmp_path):
    path = tmp_path / "big.wasm"
    path.write_bytes(wasm_bytes(100_000))
    return path


def bundle_json(signature: str = "MEUCIQDdummy") -> bytes:
    return json.dumps(
        {
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {"publicKey": {"hint": "dGVzdC1rZXk="}, "tlogEntries": []},
            "messageSignature": {
                "messageDigest": {"algorithm": "SHA2_256", "digest": "AAAA"},
                "signature": signature,
            },
        },
        indent=2,
    ).encode()


@pytest.fixture
def bundle_file(tmp_path):
    path = tmp_path / "hello.wasm.sigstore.json"
    path.write_bytes(bundle_json())
    return path


@pytest.fixture
def repo(registry, request):
    """A registry reference prefix unique to the test: ``oci://HOST/wasmops/<test-name>``."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60]
    return f"oci://{registry}/wasmops/{name}"


@pytest.fixture(scope="session")
def skopeo():
    path = shutil.which("skopeo")
    if not path:
        pytest.fail("skopeo not found: the OCI interoperability tests need it (apt-get install skopeo)", pytrace=False)

    def run(*args: str) -> str:
        proc = subprocess.run([path, *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"skopeo {' '.join(args)} failed:\n{proc.stderr}"
        return proc.stdout

    return run
