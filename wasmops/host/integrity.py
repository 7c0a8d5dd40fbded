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
from pathlib import Path

from wasmops.wasm.compile_cache import AuthenticatedCache, load_key
from ..digests import short, shown
from ..errors import IntegrityError, WasmopsError

__all__ = ["AtRestError", "AuthenticatedCache", "check_at_rest", "host_key"]

KEY_FILE = "cache.key"

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
    return load_key(Path(state_dir) / KEY_FILE)


def check_at_rest(wasm_path: Path, wasm_digest: str, bundle_path: Path | None, keyring, *, where: str) -> bytes:
    """The stored blob's bytes, once they hash to ``wasm_digest`` and its stored bundle verifies."""
    from wasmops.supply.signing import verify_bytes

    try:
        wasm = wasm_path.read_bytes()
    except FileNotFoundError:
        raise AtRestError(BLOB_MISSING, f"stored wasm blob {wasm_path.name} is missing", where=where) from None
    actual = "sha256:" + hashlib.sha256(wasm).hexdigest()
    if actual != wasm_digest:
        raise AtRestError(BLOB_MISMATCH, f"stored wasm blob hashes to {short(actual)}, "
                                         f"admitted {shown('wasm', wasm_digest)}",
                          where=where, hint="deploy it again: the host pulls and verifies a fresh copy")
    if bundle_path is not None and bundle_path.exists():
        try:
            verify_bytes(wasm, bundle_path.read_bytes(), keyring, where=where)
        except WasmopsError as exc:
            raise AtRestError(SIGNATURE_INVALID, f"stored signature bundle does not verify: {exc.message}",
                              where=where) from exc
    return wasm
