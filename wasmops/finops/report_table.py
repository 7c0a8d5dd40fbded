"""The cost report table for people (``wasmops cost report``, the Prefect ``cost-report`` artifact): money with enough decimals to be read, and a total row.

Each money column gets one number of decimals, enough for three significant digits of its smallest
non-zero value (at least 4, at most 12: the exact pico-units every cost is kept in), so a cost of
0.0000002 per request shows as 0.000000200, not 0.0000::

    >>> from decimal import Decimal
    >>> money_places([Decimal("12.5"), Decimal("0.000000200000"), Decimal(0)])
    9
    >>> money_places([Decimal("1234.5")]), money_places([Decimal("1E-13")])
    (4, 12)
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from .attribution import BY, MONEY, report, totals

MIN_PLACES, MAX_PLACES, SIGNIFICANT = 4, 12, 3
TOTAL = "(total)"      # the first key column of the total row


def money_places(values) -> int:
    """Decimals that show ``SIGNIFICANT`` digits of the smallest non-zero value (4..12)."""
    small = [abs(Decimal(v)) for v in values if v is not None and Decimal(v) != 0]
    if not small:
        return MIN_PLACES
    need = -min(small).adjusted() + SIGNIFICANT - 1
    return max(MIN_PLACES, min(MAX_PLACES, need))


def _q(v: Decimal, places: int) -> Decimal:
    return Decimal(v).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def report_rows(costs, by: str = "team", since=None) -> list[dict]:
    """:func:`~.attribution.report` rows plus a ``(total)`` row (the exact total, not a sum of rounded
    rows), each money column quantized to its own number of places (:func:`money_places`)."""
    keys, money = BY[by], MONEY
    rows = report(costs, by=by, since=since).reset_index().to_dict("records")
    total = totals(costs, since=since)
    total_row = {k: (TOTAL if i == 0 else "") for i, k in enumerate(keys)}
    total_row.update({c: total[c] for c in money})
    mem, idle = total.get("memory_cost"), total.get("idle_cost")
    total_row["idle_share"] = (idle / mem).quantize(Decimal("0.0001")) if mem else Decimal(0)
    rows.append(total_row)
    for c in money:
        places = money_places(r[c] for r in rows)
        for r in rows:
            r[c] = _q(r[c], places)
    return rows
