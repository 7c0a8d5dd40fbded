"""Give freed heap back to the OS after a large run (glibc's ``malloc_trim``; a no-op elsewhere)."""

from __future__ import annotations

import ctypes
import ctypes.util

_trim_fn: list = []


def malloc_trim() -> None:
    """Return freed malloc arenas to the OS (glibc); a no-op elsewhere."""
    fn = _libc_trim()
    if fn is not None:
        fn(0)


def _libc_trim():
    if not _trim_fn:
        try:
            _trim_fn.append(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim)
        except (OSError, AttributeError):
            _trim_fn.append(None)
    return _trim_fn[0]
