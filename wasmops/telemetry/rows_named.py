"""Which rows a failed GX check found: the series and times, so an operator can find them.

GX returns the frame's index of up to 20 unexpected rows (``partial_unexpected_index_list``); this
turns them into words::

    >>> import pandas as pd
    >>> df = pd.DataFrame({"ts": pd.to_datetime(["2026-12-07T09:44Z", "2026-12-07T09:45Z", "2026-12-07T09:46Z"]),
    ...                    "namespace": ["prod"] * 3, "module": ["a", "b", "b"]})
    >>> rows_named(df, [1, 2], total=2)
    'prod/b 2026-12-07 09:45:00 .. 09:46:00 UTC (2 rows)'
    >>> rows_named(df, [0, 1], total=7)
    'prod/a 2026-12-07 09:44:00 UTC (1 row); prod/b 2026-12-07 09:45:00 UTC (1 row); 5 more not listed'
"""

from __future__ import annotations

import pandas as pd

_WHO = ("namespace", "module", "ts")
_MAX_SERIES = 3          # a hold reason stays readable; the rest is counted


def _span(ts: pd.Series) -> str:
    lo, hi = ts.min(), ts.max()
    start = lo.strftime("%Y-%m-%d %H:%M:%S")
    if lo == hi:
        return f"{start} UTC"
    end = hi.strftime("%H:%M:%S") if lo.date() == hi.date() else hi.strftime("%Y-%m-%d %H:%M:%S")
    return f"{start} .. {end} UTC"


def rows_named(df: pd.DataFrame, index: list, total: int | None = None) -> str:
    """``ns/module FIRST .. LAST UTC (N rows)`` per series of the rows at ``index`` (labels of
    ``df.index``); ``total``: how many rows failed in all (more than GX listed: said so). ``""``
    when the frame cannot name them (no such columns or labels)."""
    index = [i for i in index or [] if isinstance(i, int)]
    if not index or any(c not in df.columns for c in _WHO):
        return ""
    found = df.loc[df.index.intersection(pd.Index(index)), list(_WHO)]
    if found.empty:
        return ""
    ts = pd.to_datetime(found["ts"], utc=True)
    parts, shown = [], 0
    for (ns, mod), t in ts.groupby([found["namespace"], found["module"]], sort=True):
        if len(parts) < _MAX_SERIES:
            parts.append(f"{ns}/{mod} {_span(t)} ({len(t)} row{'s' if len(t) != 1 else ''})")
            shown += len(t)
    more = max(total or 0, len(found)) - shown
    return "; ".join(parts) + (f"; {more} more not listed" if more > 0 else "")


def name_failed_rows(df: pd.DataFrame, checks: list[dict]) -> None:
    """Add ``rows`` (words, see :func:`rows_named`) to each failed check whose GX result lists rows."""
    for c in checks:
        res = c.get("result") or {}
        if not c["success"] and res.get("partial_unexpected_index_list"):
            c["rows"] = rows_named(df, res["partial_unexpected_index_list"], res.get("unexpected_count"))
