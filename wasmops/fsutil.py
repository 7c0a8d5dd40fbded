"""Atomic file writes: a temp file in the same directory, fsynced, renamed over the target.

The one helper set for every writer that must never leave half a file (build outputs and cache,
OCI blobs, pulls and index, keys, the host's state): ``atomic_file`` for streams,
``atomic_write`` for bytes, ``atomic_copy`` for a file.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> atomic_write(d / "a.txt", b"hi", mode=0o644)
    >>> with atomic_file(d / "b.txt") as fh:
    ...     _ = fh.write(b"there")
    >>> atomic_copy(d / "b.txt", d / "c.txt"); (d / "c.txt").read_bytes()
    b'there'
    >>> sorted(p.name for p in d.iterdir())
    ['a.txt', 'b.txt', 'c.txt']
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_file(path: Path, *, mode: int | None = None, sync_dir: bool = False,
                suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """A binary file to write; on a clean exit it is fsynced and renamed to ``path``, on an error
    removed (``path`` keeps its old content, or stays absent).

    ``mode`` sets the permissions before any byte lands; ``sync_dir`` also fsyncs the directory,
    so the rename survives a crash (the host's acknowledged state needs that).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync_dir:
        dfd = os.open(path.parent, os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def atomic_write(path: Path, data: bytes, *, mode: int | None = None, sync_dir: bool = False) -> None:
    """Write ``data`` so readers see the old file or the new one, never a part."""
    with atomic_file(path, mode=mode, sync_dir=sync_dir) as fh:
        fh.write(data)


def atomic_copy(src_file: Path, dest: Path, *, mode: int | None = 0o644) -> None:
    """Copy ``src_file`` to ``dest`` atomically (``mode``: the copy's permissions)."""
    with atomic_file(dest, mode=mode) as out, open(src_file, "rb") as inp:
        shutil.copyfileobj(inp, out)
