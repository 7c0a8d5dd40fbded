"""Atomic file writes: a temp file in the same directory, fsynced, renamed over the target.

    >>> from wasmops.fsutil import atomic_write
    >>> atomic_write(Path("/tmp/wasmops-doctest.txt"), b"hi")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes, *, mode: int | None = None, sync_dir: bool = False) -> None:
    """Write ``data`` so readers see the old file or the new one, never a part.

    ``mode`` sets the permissions before any byte lands; ``sync_dir`` also fsyncs the directory,
    so the rename survives a crash (the host's acknowledged state needs that).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
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
