"""The embedded OCI store: an OCI image-layout directory (image-spec v1.1 ``image-layout.md``).

Example::

    >>> import tempfile
    >>> from wasmops.supply.oci.layout import LayoutStore
    >>> from wasmops.supply.oci.refs import parse_ref
    >>> store = LayoutStore(parse_ref(f"oci-layout://{tempfile.mkdtemp()}/oci:v1"))
    >>> empty = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}'
    >>> store.put_manifest(empty, "application/vnd.oci.image.index.v1+json", tag="empty")[:15]
    'sha256:dff9de10'
    >>> store.tags(), store.get_manifest("empty")[0] == empty
    (['empty'], True)
    >>> sorted(p.name for p in store.root.iterdir())
    ['blobs', 'index.json', 'oci-layout']

On disk::

    PATH/oci-layout            {"imageLayoutVersion": "1.0.0"}
    PATH/index.json            an image index; tagged entries carry org.opencontainers.image.ref.name
    PATH/blobs/sha256/<hex>    content-addressed blobs (manifests, configs, layers)

Choices:

* Tags are index.json entries annotated with ``org.opencontainers.image.ref.name`` = TAG, which is
  what skopeo (``oci:PATH:TAG``) and oras read. A tag names at most one entry: re-publishing a tag
  replaces its entry.
* Manifests stored by digest only (signature referrers) get an index.json entry without a ref name,
  so that they stay reachable; the referrers fallback index sits at tag ``sha256-<hex>`` like on a
  registry, so other tools can find signatures the same way.
* Every write is atomic: a temp file in the same directory, fsync, then ``os.replace``. Blobs are
  verified while written. The read-modify-write of index.json holds an ``flock`` on the
  ``oci-layout`` file, which is never replaced after creation, so concurrent publishers on one
  machine do not lose each other's tags.
* Reading a layout that does not exist is ``NotFound``; the directory is created on first write.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wasmops.errors import ConfigError, IntegrityError, NotFound, SpecError
from wasmops.digests import hex_of, named, sha256_bytes
from wasmops.fsutil import atomic_file, atomic_write
from wasmops.supply.oci.refs import DIGEST_RE, Ref
from wasmops.supply.oci.store import ANN_REF_NAME, CHUNK, INDEX, check_digest, descriptor, encode_json, verify_manifest

LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
LAYOUT_VERSION = {"imageLayoutVersion": "1.0.0"}
_LAYOUT_NAMES = {LAYOUT_FILE, INDEX_FILE, "blobs"}


def _create_once(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data`` atomically unless it exists; never replace it (it is the lock)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        Path(tmp).unlink(missing_ok=True)


class LayoutStore:
    """An OCI image-layout directory implementing ``wasmops.supply.oci.store.Store``."""

    def __init__(self, ref: Ref):
        if ref.kind != "layout" or not ref.path:
            raise SpecError("not an oci-layout:// reference", where=str(ref))
        self.ref = ref
        self.root = Path(ref.path).expanduser()
        self._where = ref.location

    def __enter__(self) -> LayoutStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        pass

    # -- layout files ---------------------------------------------------------------------------

    def _blob_path(self, digest: str) -> Path:
        check_digest(digest, self._where)
        return self.root / "blobs" / "sha256" / hex_of(digest)

    def _require_layout(self) -> None:
        if not (self.root / LAYOUT_FILE).is_file() or not (self.root / INDEX_FILE).is_file():
            raise NotFound(
                f"no OCI image layout at {self.root} (oci-layout and index.json missing)",
                where=self._where,
                hint="publish something to it first, or check the path",
            )

    def _ensure_layout(self) -> None:
        """Create the layout if needed. Safe when several writers create it at once."""
        if (self.root / LAYOUT_FILE).is_file() and (self.root / "blobs" / "sha256").is_dir():
            return
        if self.root.exists() and (
            not self.root.is_dir()
            or any(not p.name.startswith(".") and p.name not in _LAYOUT_NAMES for p in self.root.iterdir())
        ):
            raise ConfigError(
                f"{self.root} exists and is not an OCI image layout (no oci-layout file)",
                where=self._where,
                hint="choose an empty or new directory for the layout",
            )
        (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        _create_once(self.root / LAYOUT_FILE, encode_json(LAYOUT_VERSION))

    @staticmethod
    def _empty_index() -> dict:
        return {"schemaVersion": 2, "mediaType": INDEX, "manifests": []}

    def _read_index(self) -> dict:
        self._require_layout()
        try:
            index = json.loads((self.root / INDEX_FILE).read_bytes())
        except ValueError as exc:
            raise IntegrityError(f"index.json is not valid JSON: {exc}", where=self._where) from exc
        if not isinstance(index, dict) or not isinstance(index.get("manifests", []), list):
            raise IntegrityError("index.json is not an image index", where=self._where)
        index.setdefault("manifests", [])
        return index

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self._ensure_layout()
        with open(self.root / LAYOUT_FILE, "rb") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                if not (self.root / INDEX_FILE).is_file():
                    atomic_write(self.root / INDEX_FILE, encode_json(self._empty_index()))
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def tags(self) -> list[str]:
        """Tags in index.json, in index order."""
        return [
            t for m in self._read_index()["manifests"] if (t := (m.get("annotations") or {}).get(ANN_REF_NAME))
        ]

    # -- Store ----------------------------------------------------------------------------------

    def _find(self, reference: str) -> dict | None:
        for m in self._read_index()["manifests"]:
            if DIGEST_RE.match(reference):
                if m.get("digest") == reference:
                    return m
            elif (m.get("annotations") or {}).get(ANN_REF_NAME) == reference:
                return m
        return None

    def get_manifest(self, reference: str) -> tuple[bytes, str, str]:
        where = f"{self._where}:{reference}" if not DIGEST_RE.match(reference) else f"{self._where}@{reference}"
        entry = self._find(reference)
        if entry is None and not DIGEST_RE.match(reference):
            raise NotFound(f"tag {reference!r} not found in layout {self.root}", where=where)
        digest = entry["digest"] if entry else reference
        path = self._blob_path(digest)
        if not path.is_file():
            if entry is None:
                raise NotFound(f"manifest {digest} not found in layout {self.root}", where=where)
            raise IntegrityError(f"index.json names {digest} but its blob is missing", where=where)
        data = path.read_bytes()
        if entry and isinstance(entry.get("size"), int) and entry["size"] != len(data):
            raise IntegrityError(f"manifest {digest} has {len(data)} bytes, index says {entry['size']}", where=where)
        verify_manifest(data, reference, where, expected=digest)
        media_type = (entry or {}).get("mediaType")
        if not media_type:
            try:
                media_type = json.loads(data).get("mediaType", "")
            except (ValueError, AttributeError):
                media_type = ""
        return data, media_type, digest

    def put_manifest(self, data: bytes, media_type: str, *, tag: str | None = None) -> str:
        digest = sha256_bytes(data)
        self.put_blob(data, digest, len(data))
        entry = descriptor(media_type, digest, len(data), annotations={ANN_REF_NAME: tag} if tag else None)
        with self._locked():
            index = self._read_index()
            manifests = index["manifests"]
            if tag:
                # The tag moves to this entry; an untagged entry for the same digest becomes redundant.
                def keep(m: dict) -> bool:
                    name = (m.get("annotations") or {}).get(ANN_REF_NAME)
                    return name != tag and not (name is None and m.get("digest") == digest)

                manifests = [m for m in manifests if keep(m)]
                manifests.append(entry)
            elif not any(m.get("digest") == digest for m in manifests):
                manifests.append(entry)
            else:
                return digest
            index["manifests"] = manifests
            atomic_write(self.root / INDEX_FILE, encode_json(index))
        return digest

    def has_blob(self, digest: str) -> bool:
        return self._blob_path(digest).is_file()

    def _blob_ok(self, path: Path, digest: str, size: int) -> bool:
        try:
            if path.stat().st_size != size:
                return False
        except FileNotFoundError:
            return False
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        return named(h.hexdigest()) == digest

    def put_blob(self, source: Path | bytes, digest: str, size: int) -> None:
        """Write a blob, verifying its digest; an existing blob is kept only if it verifies."""
        self._ensure_layout()
        path = self._blob_path(digest)
        if self._blob_ok(path, digest, size):
            return
        h, n = hashlib.sha256(), 0
        with atomic_file(path) as out:   # a digest or size mismatch leaves no file behind
            if isinstance(source, (bytes, bytearray)):
                h.update(source)
                n = len(source)
                out.write(source)
            else:
                with open(source, "rb") as f:
                    while chunk := f.read(CHUNK):
                        h.update(chunk)
                        n += len(chunk)
                        out.write(chunk)
            actual = named(h.hexdigest())
            if actual != digest or n != size:
                raise IntegrityError(
                    f"content changed while storing: expected {digest} ({size} bytes), got {actual} ({n} bytes)",
                    where=self._where,
                )

    @contextmanager
    def open_blob(self, digest: str) -> Iterator[Iterator[bytes]]:
        path = self._blob_path(digest)
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found in layout {self.root}", where=self._where) from None
        with f:
            yield iter(lambda: f.read(CHUNK), b"")

    def referrers_api(self, digest: str) -> list[dict] | None:
        """An image layout has no referrers API: callers use the ``sha256-<hex>`` tag fallback."""
        return None


def init_layout(path: str | Path) -> None:
    """Create an empty, spec-valid image layout at ``path`` (no-op if one is there)."""
    from wasmops.supply.oci.refs import layout_ref

    store = LayoutStore(layout_ref(Path(path).resolve(), "latest"))
    with store._locked():  # creates oci-layout, blobs/sha256 and an empty index.json
        pass
