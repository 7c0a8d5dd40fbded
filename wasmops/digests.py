"""Content digests: one vocabulary for the whole release.

A digest is always the prefixed string ``sha256:<64 lowercase hex>``, from the build to the host.
``named`` puts the prefix on a bare hex, ``hex_of`` takes it off (and checks it), so no caller
slices strings by hand.

    >>> sha256_bytes(b"")
    'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    >>> hex_of(named("ab" * 32)) == "ab" * 32
    True
    >>> hex_of("md5:00")
    Traceback (most recent call last):
    ...
    ValueError: not a sha256 digest: 'md5:00' (expected sha256: and 64 lowercase hex characters)

Where a person reads a digest it is cut one way only, by ``short``, and says which digest it is with
``shown`` (``wasm`` for the module's bytes, ``manifest`` for the OCI manifest the host admits)::

    >>> shown("wasm", named("0123456789ab" + "f" * 52))
    'wasm sha256:0123456789ab…'

Machine-read places (``--json``, Git trailers, decision records, manifests) keep the full digest.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
PREFIX = "sha256:"
SHORT_HEX = 12                  # hex digits a person sees; one length everywhere
KINDS = ("wasm", "manifest")    # which digest it is, said wherever a person reads one
DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_HEX_RE = re.compile(r"^[a-f0-9]{64}$")


def is_digest(s: object) -> bool:
    """``sha256:`` followed by 64 lowercase hex characters."""
    return isinstance(s, str) and bool(DIGEST_RE.match(s))


def named(hex_digest: str) -> str:
    """``sha256:`` + a bare hex sha256 (ValueError if it is not one)."""
    if not isinstance(hex_digest, str) or not _HEX_RE.match(hex_digest):
        raise ValueError(f"not a hex sha256: {hex_digest!r} (expected 64 lowercase hex characters)")
    return PREFIX + hex_digest


def hex_of(digest: str) -> str:
    """The bare hex of a ``sha256:`` digest (ValueError if it is not one)."""
    if not is_digest(digest):
        raise ValueError(f"not a sha256 digest: {digest!r} (expected sha256: and 64 lowercase hex characters)")
    return digest[len(PREFIX):]


def short(digest: str | None) -> str:
    """``sha256:`` + the first 12 hex digits + ``…``: the one way a digest is cut for a person.

    Anything that is not a full sha256 digest comes back unchanged (as text), ``None`` as ``-``::

        >>> short("sha256:" + "0123456789ab" + "c" * 52)
        'sha256:0123456789ab…'
        >>> short(None), short(""), short("none"), short("sha256:ab")
        ('-', '', 'none', 'sha256:ab')
    """
    if digest is None:
        return "-"
    if not is_digest(digest):
        return str(digest)
    return digest[:len(PREFIX) + SHORT_HEX] + "…"


def shown(kind: str, digest: str | None) -> str:
    """``wasm sha256:0123456789ab…`` or ``manifest sha256:…``: a short digest that says which one it is.

        >>> shown("manifest", "sha256:" + "ab" * 32)
        'manifest sha256:abababababab…'
        >>> shown("manifest", None)
        'manifest -'
        >>> shown("blob", "sha256:" + "ab" * 32)
        Traceback (most recent call last):
        ...
        ValueError: unknown digest kind 'blob' (expected one of: wasm, manifest)
    """
    if kind not in KINDS:
        raise ValueError(f"unknown digest kind {kind!r} (expected one of: {', '.join(KINDS)})")
    return f"{kind} {short(digest)}"


def sha256_bytes(data: bytes) -> str:
    return PREFIX + hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return PREFIX + h.hexdigest()


def json_digest(obj) -> str:
    return sha256_bytes(json.dumps(obj, sort_keys=True, default=str).encode())
