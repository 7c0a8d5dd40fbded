"""What every OCI store offers, and the content-addressing helpers both stores share.

A store is the small interface below (a Protocol). ``LayoutStore`` (an image-layout directory) and
``RegistryStore`` (a registry through oras-py) implement it; ``wasmops.supply.oci.artifact`` builds the Wasm
artifact and its referrers on top, so the artifact logic is written once. Example::

    >>> from wasmops.supply.oci.store import encode_json, referrers_tag
    >>> from wasmops.digests import sha256_bytes
    >>> sha256_bytes(b"{}")[:15]
    'sha256:44136fa3'
    >>> encode_json({"b": 1, "a": [1, 2]})
    b'{"b":1,"a":[1,2]}'
    >>> referrers_tag("sha256:" + "ab" * 32)[:10]
    'sha256-aba'

Every read path verifies: a manifest's bytes against the digest asked for (or the one the tag
points at), a blob's bytes and size against its descriptor. A mismatch is an ``IntegrityError``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

from wasmops.digests import named, sha256_bytes
from wasmops.errors import IntegrityError, SpecError
from wasmops.supply.oci.refs import DIGEST_RE, Ref

# Media types.
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
WASM_CONFIG = "application/vnd.wasm.config.v0+json"
WASM_LAYER = "application/wasm"
SIGSTORE_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY_DATA = b"{}"
MANIFEST_TYPES = (MANIFEST, INDEX)

# Annotation keys.
ANN_TITLE = "org.opencontainers.image.title"
ANN_CREATED = "org.opencontainers.image.created"
ANN_SOURCE = "org.opencontainers.image.source"
ANN_REVISION = "org.opencontainers.image.revision"
ANN_REF_NAME = "org.opencontainers.image.ref.name"

CHUNK = 1 << 16
MAX_MANIFEST_BYTES = 4 << 20


def file_digest(path: Path) -> tuple[str, int]:
    """(sha256 digest, size) of a file, read in chunks."""
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return named(h.hexdigest()), size


def encode_json(obj) -> bytes:
    """Compact JSON, keys in insertion order: the exact bytes that get digested and pushed."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def descriptor(media_type: str, digest: str, size: int, *, annotations: dict | None = None,
               artifact_type: str | None = None) -> dict:
    d: dict = {"mediaType": media_type, "digest": digest, "size": size}
    if artifact_type:
        d["artifactType"] = artifact_type
    if annotations:
        d["annotations"] = dict(annotations)
    return d


def bytes_descriptor(media_type: str, data: bytes, **kw) -> dict:
    return descriptor(media_type, sha256_bytes(data), len(data), **kw)


def referrers_tag(digest: str) -> str:
    """The OCI 1.1 referrers tag schema: ``<alg[:32]>-<encoded[:64]>``, other characters → ``-``."""
    alg, _, enc = digest.partition(":")
    return re.sub(r"[^A-Za-z0-9._-]", "-", f"{alg[:32]}-{enc[:64]}")


def check_digest(digest: str, where: str) -> str:
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise IntegrityError(f"unsupported or malformed digest {digest!r} (only sha256 is accepted)", where=where)
    return digest


def parse_json_doc(data: bytes, where: str) -> dict:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SpecError(f"not valid JSON: {exc}", where=where) from exc
    if not isinstance(doc, dict):
        raise SpecError("expected a JSON object", where=where)
    return doc


def verify_manifest(data: bytes, reference: str, where: str, *, expected: str | None = None) -> str:
    """Digest ``data``; it must equal ``reference`` when that is a digest, and ``expected`` if given."""
    actual = sha256_bytes(data)
    for want in (reference if DIGEST_RE.match(reference) else None, expected):
        if want and want != actual:
            raise IntegrityError(f"manifest digest mismatch: asked for {want}, got {actual}", where=where)
    return actual


@runtime_checkable
class Store(Protocol):
    """The operations the artifact layer needs from an OCI store."""

    ref: Ref

    def get_manifest(self, reference: str) -> tuple[bytes, str, str]:
        """(bytes, media type, verified digest) for a tag or digest. NotFound if absent."""

    def put_manifest(self, data: bytes, media_type: str, *, tag: str | None = None) -> str:
        """Store manifest bytes unchanged (tagged, or by digest only); return their digest."""

    def has_blob(self, digest: str) -> bool: ...

    def put_blob(self, source: Path | bytes, digest: str, size: int) -> None:
        """Store a blob from a file or bytes; skip when already present."""

    def open_blob(self, digest: str) -> AbstractContextManager[Iterator[bytes]]:
        """Chunks of a blob, unverified (see ``copy_blob``). NotFound if absent."""

    def referrers_api(self, digest: str) -> list[dict] | None:
        """The referrers API's descriptors, or None when the store has no such API."""

    def close(self) -> None: ...

    def __enter__(self) -> Store: ...

    def __exit__(self, *exc) -> None: ...


def copy_blob(store: Store, desc: dict, out: IO[bytes], where: str) -> int:
    """Stream the blob of ``desc`` into ``out``, checking its size and sha256. Returns the size."""
    digest = check_digest(desc.get("digest", ""), where)
    size = desc.get("size")
    if not isinstance(size, int) or size < 0:
        raise IntegrityError(f"descriptor for {digest} has no valid size", where=where)
    h, n = hashlib.sha256(), 0
    with store.open_blob(digest) as chunks:
        for chunk in chunks:
            n += len(chunk)
            if n > size:
                raise IntegrityError(f"blob {digest} is larger than its descriptor says ({size} bytes)", where=where)
            h.update(chunk)
            out.write(chunk)
    if n != size:
        raise IntegrityError(f"blob {digest} has {n} bytes, descriptor says {size}", where=where)
    if named(h.hexdigest()) != digest:
        raise IntegrityError(f"blob digest mismatch: expected {digest}, got {named(h.hexdigest())}", where=where)
    return n


def read_blob(store: Store, desc: dict, where: str) -> bytes:
    """A small blob's bytes, verified against ``desc``."""
    import io

    buf = io.BytesIO()
    copy_blob(store, desc, buf, where)
    return buf.getvalue()
