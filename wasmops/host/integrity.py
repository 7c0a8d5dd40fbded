"""Trust nothing at rest: what the host re-checks before it runs anything it stored itself.

Two things sit on the host's disk between admission and a run, and either may be edited there:

* the verified wasm blob (``host/blobs/<hex>.wasm``) and its Sigstore bundle
  (``host/blobs/<hex>.sigstore.json``): ``check_at_rest`` re-hashes the blob against the admitted
  wasm digest in the state file and re-verifies the stored bundle against the trusted keyring.
  A mismatch raises ``AtRestError`` and the runtime marks the module ``Stalled`` (it is not served;
  a fresh deploy pulls it again).
* the precompiled module (``cache/compiled/<hex>.<engine>.cwasm``): wasmtime's
  ``Module.deserialize`` runs native code and is unsafe on bytes it did not produce. The
  ``AuthenticatedCache`` writes each file as ``MAGIC || HMAC-SHA256(key, context || cwasm) || cwasm``
  with a host-local key (``host/cache.key``, 0600), where the context names the wasm digest and the
  engine. A file that does not authenticate, including another module's valid cwasm copied over it,
  is discarded and the module is compiled again from its verified blob::

    >>> import tempfile, pathlib, wasmtime
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> cache = AuthenticatedCache(d / "compiled", host_key(d))
    >>> eng = wasmtime.Engine()
    >>> cache.store("sha256:" + "a" * 64, wasmtime.Module(eng, wasmtime.wat2wasm("(module)")))
    >>> cache.load(eng, "sha256:" + "a" * 64) is not None, cache.load(eng, "sha256:" + "b" * 64)
    (True, None)
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Callable

import wasmtime

from ..errors import IntegrityError, WasmopsError
from ..fsutil import atomic_write
from ..sandbox import engine_fingerprint

KEY_FILE = "cache.key"
MAGIC = b"WOPSMAC1"
_MAC_LEN = 32

# Reasons a stored module is refused (``health_reason`` in GET /admin/modules).
BLOB_MISSING = "BlobMissing"
BLOB_MISMATCH = "BlobDigestMismatch"
SIGNATURE_INVALID = "SignatureInvalid"
LOAD_FAILED = "LoadFailed"


class AtRestError(IntegrityError):
    """A stored module failed its at-rest check; ``reason`` is one of the names above."""

    def __init__(self, reason: str, message: str, **kw):
        self.reason = reason
        super().__init__(message, **kw)


def host_key(state_dir: str | Path) -> bytes:
    """The host-local MAC key: 32 random bytes in ``<state>/cache.key``, created 0600 on first use."""
    path = Path(state_dir) / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)
        key = path.read_bytes()
        if len(key) < 32:
            raise IntegrityError(f"{path} holds {len(key)} bytes, not a 32-byte key",
                                 where=str(path), hint="delete it: the host makes a new one and recompiles")
        return key
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
        fh.flush()
        os.fsync(fh.fileno())
    return key


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"wasmops-cache-key-id\0" + key).hexdigest()[:8]


class AuthenticatedCache:
    """A compile cache that deserializes only files whose MAC this host's key produced."""

    def __init__(self, root: str | Path, key: bytes, *, on_reject: Callable[[str, str], None] | None = None):
        self.root = Path(root)
        self.key = key
        self.on_reject = on_reject or (lambda digest, why: None)
        self.rejected = 0

    def path(self, digest: str) -> Path:
        tag = hashlib.sha256(engine_fingerprint().encode()).hexdigest()[:12]
        return self.root / f"{digest.split(':', 1)[-1]}.{tag}.cwasm"

    def _mac(self, digest: str, body: bytes) -> bytes:
        ctx = b"wasmops-cwasm-v1\0" + digest.encode() + b"\0" + engine_fingerprint().encode() + b"\0"
        return hmac.new(self.key, ctx + body, hashlib.sha256).digest()

    def load(self, engine: wasmtime.Engine, digest: str) -> wasmtime.Module | None:
        path = self.path(digest)
        try:
            data = path.read_bytes()   # verify and deserialize the same bytes: no re-read after the check
        except FileNotFoundError:
            return None
        head, mac, body = data[:len(MAGIC)], data[len(MAGIC):len(MAGIC) + _MAC_LEN], data[len(MAGIC) + _MAC_LEN:]
        if head != MAGIC or not hmac.compare_digest(mac, self._mac(digest, body)):
            return self._reject(path, digest, "precompiled module does not authenticate (tampered or foreign)")
        try:
            return wasmtime.Module.deserialize(engine, body)
        except wasmtime.WasmtimeError as exc:  # authentic but from another engine build: compile again
            return self._reject(path, digest, f"precompiled module is stale: {str(exc).splitlines()[0]}", tamper=False)

    def _reject(self, path: Path, digest: str, why: str, *, tamper: bool = True) -> None:
        path.unlink(missing_ok=True)
        if tamper:
            self.rejected += 1
            self.on_reject(digest, why)
        return None

    def store(self, digest: str, module: wasmtime.Module) -> None:
        body = module.serialize()
        atomic_write(self.path(digest), MAGIC + self._mac(digest, body) + body, mode=0o600)


def check_at_rest(wasm_path: Path, wasm_digest: str, bundle_path: Path | None, keyring, *, where: str) -> bytes:
    """The stored blob's bytes, once they hash to ``wasm_digest`` and its stored bundle verifies."""
    from ..signing import verify_bytes

    try:
        wasm = wasm_path.read_bytes()
    except FileNotFoundError:
        raise AtRestError(BLOB_MISSING, f"stored wasm blob {wasm_path.name} is missing", where=where) from None
    actual = "sha256:" + hashlib.sha256(wasm).hexdigest()
    if actual != wasm_digest:
        raise AtRestError(BLOB_MISMATCH, f"stored wasm blob hashes to {actual[:19]}…, admitted {wasm_digest[:19]}…",
                          where=where, hint="deploy it again: the host pulls and verifies a fresh copy")
    if bundle_path is not None and bundle_path.exists():
        try:
            verify_bytes(wasm, bundle_path.read_bytes(), keyring, where=where)
        except WasmopsError as exc:
            raise AtRestError(SIGNATURE_INVALID, f"stored signature bundle does not verify: {exc.message}",
                              where=where) from exc
    return wasm
