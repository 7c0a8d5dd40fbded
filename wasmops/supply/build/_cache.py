"""The content-addressed build cache (writes go through ``wasmops.fsutil``).

A cache key is the sha256 of: the language, the toolchain and its version, the compiler flags,
and the relative path and bytes of every source file (the listed ``sources`` plus any file under
the module directory with a suffix the language reads, such as C headers). The same key always
means the same output, so a hit can be returned without running the compiler.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from wasmops import digests
from wasmops.fsutil import atomic_copy
from wasmops.supply.source import ModuleSource

#: Directories never searched for extra source files.
SKIP_DIRS = {"zig-out", "node_modules", "__pycache__", "out", "build"}


def module_files(src: ModuleSource, suffixes: tuple[str, ...]) -> list[str]:
    """Relative paths (sorted, '/'-separated) of the listed sources plus files ending in ``suffixes``."""
    root = src.root
    assert root is not None
    found = {Path(s).as_posix() for s in src.sources}
    if suffixes:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS)
            for f in filenames:
                if f.endswith(suffixes):
                    found.add((Path(dirpath) / f).relative_to(root).as_posix())
    return sorted(found)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file (the build reports bare hex; ``digests.named`` prefixes it)."""
    return digests.hex_of(digests.sha256_file(path))


def cache_key(src: ModuleSource, toolchain: str, flags: list[str], suffixes: tuple[str, ...]) -> str:
    assert src.root is not None
    files = [[rel, sha256_file(src.root / rel)] for rel in module_files(src, suffixes)]
    doc = {"v": 1, "language": src.language, "toolchain": toolchain, "flags": flags,
           "sources": list(src.sources), "files": files}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / key[:2] / f"{key}.wasm"


def lookup(cache_dir: Path, key: str) -> Path | None:
    p = cache_path(cache_dir, key)
    return p if p.is_file() else None


def store(cache_dir: Path, key: str, built: Path) -> None:
    """Put a build output into the cache; failures to cache never fail the build."""
    try:
        atomic_copy(built, cache_path(cache_dir, key))
    except OSError:
        pass
