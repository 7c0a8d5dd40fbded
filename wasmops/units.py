"""Parse sizes like ``16Mi`` and durations like ``2000ms``, the Kubernetes way.

    >>> parse_size("16Mi"), parse_size("1Gi"), parse_size(65536)
    (16777216, 1073741824, 65536)
"""

from __future__ import annotations

import re

_SIZE_UNITS = {
    "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|k|M|G|T|)\s*$")


def parse_size(value: int | str) -> int:
    """Bytes from an int or a quantity string (``64Mi``, ``1G``, ``512Ki``). Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("a size must be a number or a quantity like 16Mi")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    m = _SIZE_RE.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a size; use bytes or a quantity like 16Mi, 1Gi")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2)])


def format_size(n: int) -> str:
    for unit, mult in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if n >= mult and n % mult == 0:
            return f"{n // mult}{unit}"
    return str(n)


def parse_cpu_millis(value: int | float | str) -> int:
    """CPU in millicores from ``100m``, ``0.5`` or ``2``."""
    s = str(value).strip()
    try:
        if s.endswith("m"):
            millis = int(s[:-1])
        else:
            millis = int(round(float(s) * 1000))
    except ValueError:
        raise ValueError(f"{value!r} is not a CPU quantity; use 100m, 0.5 or 2") from None
    if millis <= 0:
        raise ValueError("cpu must be positive")
    return millis
