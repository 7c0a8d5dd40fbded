"""Exact money arithmetic: integer numerators over one common denominator.

Every cost in wasmops is ``quantity × price / unit`` with units that are not all powers of ten
(a GiB-hour is ``3600 × 2**30`` byte-seconds, a GB-month has 28–31 days). Summing rounded per-row
values would drift, and floats are out of the question, so each cost is kept as an integer
numerator over :data:`DENOM`, a common denominator that every unit divides. Sums of numerators are
exact; a numerator becomes a :class:`~decimal.Decimal` only at the end, rounded once (half up) to
:data:`PLACES` decimal places (pico-units of the currency)::

    >>> from decimal import Decimal
    >>> n = 3_000_000 * price_units(Decimal("0.0004")) * PER_MILLION   # 3M fuel at 0.0004 per million
    >>> to_decimal(n)
    Decimal('0.001200000000')
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np

#: Prices may have at most this many decimal places; money is rounded to it at output.
PLACES = 12
SCALE = 10**PLACES
QUANTUM = Decimal(1).scaleb(-PLACES)
GIB = 2**30
HOUR_S = 3600
DAY_S = 86_400
MONTH_DAYS = (28, 29, 30, 31)
#: Nanoseconds per second: usage windows are billed to the nanosecond (a scrape window is not whole seconds).
NS = 10**9

#: The common denominator of every cost numerator.
DENOM = math.lcm(10**6 * SCALE, HOUR_S * NS * GIB * SCALE, *(10**9 * SCALE * DAY_S * NS * d for d in MONTH_DAYS))
#: Multipliers: numerator = quantity × price_units × multiplier.
PER_MILLION = DENOM // (10**6 * SCALE)                 # fuel-million, invocations-million (quantity: count)
PER_GIB_HOUR = DENOM // (HOUR_S * GIB * SCALE)         # memory-gib-hour (quantity: byte-seconds)
PER_GB_MONTH = {d: DENOM // (10**9 * SCALE * DAY_S * d) for d in MONTH_DAYS}  # (quantity: byte-seconds)
PER_GIB_HOUR_NS = PER_GIB_HOUR // NS                  # memory-gib-hour (quantity: byte-nanoseconds)
PER_GB_MONTH_NS = {d: m // NS for d, m in PER_GB_MONTH.items()}  # storage-gb-month (quantity: byte-nanoseconds)


def window_ns(window_s) -> np.ndarray:
    """Usage windows in seconds (integers, or floats exact to the nanosecond) → int64 nanoseconds.

    Floats are rounded to the nearest nanosecond, which recovers the exact window for any window
    shorter than ~26 days (a float64 holds 2**51 ns exactly):

        >>> window_ns(np.array([20.000123456, 3600.0])).tolist(), window_ns(np.array([60])).tolist()
        ([20000123456, 3600000000000], [60000000000])
    """
    w = np.asarray(window_s)
    if w.dtype.kind in "iu":
        return w.astype(np.int64) * NS
    return np.rint(w.astype(np.float64) * NS).astype(np.int64)


def price_units(amount: Decimal) -> int:
    """A price as an integer count of 10**-PLACES. Raises ValueError past PLACES decimal places."""
    scaled = Decimal(amount).scaleb(PLACES)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"price {amount} has more than {PLACES} decimal places")
    return int(scaled)


def round_units(n: int) -> int:
    """A numerator → integer pico-units, rounded half up (n >= 0), half away from zero otherwise."""
    q, r = divmod(abs(n) * SCALE, DENOM)
    q += 2 * r >= DENOM
    return q if n >= 0 else -q


def to_decimal(n: int) -> Decimal:
    """A numerator → Decimal with exactly PLACES decimal places."""
    return Decimal(round_units(int(n))) * QUANTUM


def to_decimals(nums: np.ndarray) -> np.ndarray:
    """Vectorised :func:`to_decimal` for an object array of non-negative numerators."""
    nums = np.asarray(nums, dtype=object)
    if nums.size == 0:
        return np.empty(0, dtype=object)
    units = (nums * (2 * SCALE) + DENOM) // (2 * DENOM)   # round half up, non-negative input
    return np.fromiter((Decimal(u) * QUANTUM for u in units), dtype=object, count=len(units))


def from_decimal(amount: Decimal) -> int:
    """A Decimal amount (at most PLACES places) → numerator."""
    return price_units(amount) * (DENOM // SCALE)


def quantize(d: Decimal, places: int = PLACES) -> Decimal:
    return Decimal(d).quantize(Decimal(1).scaleb(-places))


def money(d: Decimal | None, places: int = 2) -> str:
    """For people: ``12.35`` (half-up to cents)."""
    if d is None:
        return "-"
    from decimal import ROUND_HALF_UP

    return f"{Decimal(d).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):,f}"


def fixed(d: Decimal, places: int = PLACES) -> str:
    """Fixed-point text with exactly ``places`` decimals (for CSV)."""
    return format(Decimal(d).quantize(Decimal(1).scaleb(-places)), "f")
