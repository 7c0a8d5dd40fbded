"""The reason, in plain words, that telemetry which failed validation gives ``hold``.

The failed GX checks stay in the decision record (``data.gx_failed``); the explanation says what
they mean for an operator::

    >>> import pandas as pd
    >>> from wasmops.telemetry.validate import ValidationOutcome
    >>> now = pd.Timestamp("2026-12-06T22:00Z")
    >>> empty = ValidationOutcome(success=False, result_id="", stats={}, now=now, freshness_minutes=30,
    ...                           failed=[{"type": ROW_COUNT, "column": None}, {"type": FRESHNESS, "column": "ts"}])
    >>> validation_reason(pd.DataFrame(), empty, window_minutes=60, store={"newest": None})
    'no telemetry in the store (run `wasmops telemetry collect`)'
    >>> validation_reason(pd.DataFrame(), empty, window_minutes=60, store={"newest": now - pd.Timedelta("3h")})
    'no telemetry in the last 60 min: the newest in the store is 3.0 h old (run `wasmops telemetry collect`)'
    >>> stale = ValidationOutcome(success=False, result_id="", stats={}, now=now, freshness_minutes=30,
    ...                           newest=now - pd.Timedelta("47min"), failed=[{"type": FRESHNESS, "column": "ts"}])
    >>> validation_reason(pd.DataFrame({"ts": [now]}), stale)
    'newest telemetry is 47 min old, older than --freshness-minutes 30'
"""

from __future__ import annotations

import pandas as pd

ROW_COUNT = "expect_table_row_count_to_be_between"
FRESHNESS = "expect_column_max_to_be_between"        # on ts, with the freshness limit


def _age(delta: pd.Timedelta) -> str:
    minutes = delta.total_seconds() / 60
    if minutes < 120:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} h" if minutes < 48 * 60 else f"{minutes / 1440:.1f} days"


def _is_freshness(f: dict) -> bool:
    """The window's freshness check, or the per-module one (``series_newest_ts``): when the whole
    window is stale, the age of its newest row says it once."""
    return (f["type"] == FRESHNESS and f.get("column") == "ts") or f.get("column") == "series_newest_ts"


def _empty(window_minutes, store: dict | None, now) -> str:
    skewed = bool(store and store.get("future_rows"))
    hint = "" if skewed else " (run `wasmops telemetry collect`)"
    if store is not None and store.get("newest") is None:
        return f"no telemetry in the store{' up to now' if skewed else ''}{hint}"
    where = f"in the last {window_minutes:g} min" if window_minutes else "in the window"
    if store is not None and now is not None:
        return f"no telemetry {where}: the newest in the store is {_age(now - store['newest'])} old{hint}"
    return f"no telemetry {where}"


def future_rows_note(store: dict | None, now) -> str:
    """Rows stamped beyond now + the skew allowance: the clock that wrote them was ahead."""
    n = (store or {}).get("future_rows") or 0
    if not n or now is None or store.get("future_max") is None:
        return ""
    return (f"{n} row{'s' if n != 1 else ''} in the store {'are' if n != 1 else 'is'} stamped in the future, up "
            f"to {_age(store['future_max'] - now)} ahead of this clock (clock skew: the clock that wrote "
            "them was ahead; fix it, e.g. NTP): they are never judged")


def series_future_note(store: dict | None, subject: str, now) -> str:
    """``subject``'s rows stamped beyond now + the skew allowance, when the window also held valid
    rows of it (judged on those): said beside the verdict, not left unmentioned."""
    n, latest = ((store or {}).get("future_by_series") or {}).get(subject, (0, None))
    if not n or now is None or latest is None:
        return ""
    return (f"not judged: {n} row{'s' if n != 1 else ''} of {subject} stamped in the future, up to "
            f"{_age(latest - now)} ahead of this clock (clock skew: the clock that wrote them was ahead; fix it, "
            "e.g. NTP)")


def series_reason(failed: list[dict], others: str = "the other modules are judged on their own rows") -> str:
    """Why one module is held while the others go on (``others`` says how): its own rows failed these checks."""
    names = "; ".join(f"{f['type'].removeprefix('expect_')}({f.get('column') or ''})"
                      + (f" in {f['rows']}" if f.get("rows") else "") for f in failed[:8])
    return (f"this module's telemetry failed validation ({len(failed)} check{'s' if len(failed) != 1 else ''}): "
            f"{names}; {others}")


def _stale(outcome) -> str:
    if outcome.newest is None or outcome.now is None:
        return f"the newest telemetry is older than --freshness-minutes {outcome.freshness_minutes}"
    return (f"newest telemetry is {_age(outcome.now - outcome.newest)} old, older than --freshness-minutes "
            f"{outcome.freshness_minutes:g}")


def validation_reason(df: pd.DataFrame, outcome, *, window_minutes=None, store: dict | None = None) -> str:
    """Why ``df`` is held. ``store``: what the caller found in the store (``Store.ahead()``:
    ``{"newest": ts or None, "future_rows": n, "future_max": ts}``), to tell an empty window from an
    empty store, and to name rows stamped in the future (clock skew)."""
    failed, parts = list(outcome.failed), []
    if df.empty:
        parts.append(_empty(window_minutes, store, getattr(outcome, "now", None)))
        failed = [f for f in failed if f["type"] != ROW_COUNT and not _is_freshness(f)]
    elif any(_is_freshness(f) for f in failed):
        parts.append(_stale(outcome))
        failed = [f for f in failed if not _is_freshness(f)]
    skew = future_rows_note(store, getattr(outcome, "now", None))
    if skew:
        parts.append(skew)
    if failed:
        names = "; ".join(f"{f['type'].removeprefix('expect_')}({f.get('column') or ''})"
                          + (f" in {f['rows']}" if f.get("rows") else "") for f in failed[:8])
        parts.append(f"telemetry failed validation ({len(failed)} check{'s' if len(failed) != 1 else ''}): {names}")
    return "; ".join(parts)
