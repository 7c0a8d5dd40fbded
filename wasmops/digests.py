"""Content digests used as cache keys and provenance.

    >>> sha256_bytes(b"")
    'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def source_digest(module_dir: str | Path) -> str:
    """Digest of a module directory's module.yaml and every source file it lists."""
    from .source import load_module_source

    src = load_module_source(module_dir)
    h = hashlib.sha256()
    h.update((src.root / "module.yaml").read_bytes())
    for p in sorted(src.root.rglob("*")):
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(src.root).parts):
            h.update(str(p.relative_to(src.root)).encode() + b"\0" + p.read_bytes() + b"\0")
    return "sha256:" + h.hexdigest()


def json_digest(obj) -> str:
    return sha256_bytes(json.dumps(obj, sort_keys=True, default=str).encode())
