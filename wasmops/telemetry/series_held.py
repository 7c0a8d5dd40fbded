"""Which series a failed GX check concerns, so one module's bad rows hold that module only.

The suite runs once over the whole window (one GX context: ~0.5 s; one per module would cost that
per module). A row-level check (nulls, ranges, pairs, the duplicate key, the future bound) lists
every row it rejected (``result_format="COMPLETE"``: ``unexpected_index_list``); those rows are
mapped to their ``namespace/module`` here. A check that is not about rows (columns, types, row
count, freshness), or that did not list every row it rejected, cannot be attributed: it stays a
failure of the whole window::

    >>> import pandas as pd
    >>> df = pd.DataFrame({"ts": pd.to_datetime(["2026-12-07T09:44Z"] * 3), "namespace": ["prod"] * 3,
    ...                    "module": ["a", "b", "b"]})
    >>> checks = [{"type": "expect_column_values_to_be_between", "column": "fuel", "success": False,
    ...            "result": {"unexpected_count": 1, "unexpected_index_list": [2]}},
    ...           {"type": "expect_column_values_to_not_be_null", "column": "ts", "success": True, "result": {}}]
    >>> held = attribute(df, checks)
    >>> held["prod/b"][0]["rows"], checks[0]["attributed"], "prod/a" in held
    ('prod/b 2026-12-07 09:44:00 UTC (1 row)', True, False)
"""

from __future__ import annotations

import pandas as pd

from .rows_named import rows_named

_BULKY = ("unexpected_index_list", "unexpected_list", "unexpected_index_query")
SERIES_NEWEST = "series_newest_ts"       # derived for the per-module freshness check (not a stored column)


def with_series_newest(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` plus ``series_newest_ts``: the newest ``ts`` of each row's ``namespace/module``. A GX
    row check on it (the suite's per-module freshness) rejects every row of a stale module, so the
    failure is attributed to that module like any other. Unchanged when it cannot be computed (no
    such columns, or ``ts`` not tz-aware datetimes: the type check fails the window then)."""
    if df.empty or not {"namespace", "module", "ts"} <= set(df.columns) or str(df["ts"].dtype) != "datetime64[ns, UTC]":
        return df
    return df.assign(**{SERIES_NEWEST: df.groupby(["namespace", "module"], dropna=False, sort=False)["ts"]
                        .transform("max")})


def _age(delta: pd.Timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes:.0f} min" if minutes < 120 else (f"{minutes / 60:.1f} h" if minutes < 2880 else
                                                       f"{minutes / 1440:.1f} days")


def name_stale(df: pd.DataFrame, held: dict, limit, now) -> None:
    """A module held by the per-module freshness check is named by its last row's time and age."""
    if limit is None:
        return
    for key, failed in held.items():
        for f in failed:
            if f.get("column") == SERIES_NEWEST:
                ns, mod = key.split("/", 1)
                last = df.loc[(df["namespace"] == ns) & (df["module"] == mod), "ts"].max()
                f["rows"] = (f"{key}: its newest row is {last.strftime('%Y-%m-%d %H:%M:%S')} UTC, {_age(now - last)} "
                             f"before now, older than the freshness limit ({_age(now - limit)})")


def _listed(df: pd.DataFrame, res: dict) -> list | None:
    """Every rejected row's index label, or None when GX did not list them all (or cannot be mapped)."""
    idx, n = res.get("unexpected_index_list"), res.get("unexpected_count")
    if not isinstance(idx, list) or not n or len(idx) != n or not df.index.is_unique:
        return None
    if any(not isinstance(i, int) for i in idx) or not pd.Index(idx).isin(df.index).all():
        return None
    return idx


def attribute(df: pd.DataFrame, checks: list[dict], rejected: set | None = None) -> dict[str, list[dict]]:
    """``{"ns/module": [failed check, its rows of that series named]}``; each failed check that could be
    attributed is marked ``attributed``. GX's full row lists are dropped from the result afterwards
    (the record keeps GX's first 20, as before); ``rejected``, when given, collects the index labels
    of every attributed row (the monitor's history leaves them out)."""
    held: dict[str, list[dict]] = {}
    if not {"namespace", "module", "ts"} <= set(df.columns):
        return held
    for c in checks:
        res = c.get("result") or {}
        idx = None if c["success"] else _listed(df, res)
        for k in _BULKY:
            res.pop(k, None)
        rows = None if idx is None else df.loc[idx, ["namespace", "module"]]
        if rows is None or rows.isna().any(axis=None):      # a row of no module: the window's failure
            continue
        c["attributed"] = True
        if rejected is not None:
            rejected.update(idx)
        for (ns, mod), part in rows.groupby(["namespace", "module"], sort=True):
            held.setdefault(f"{ns}/{mod}", []).append(
                {"type": c["type"], "column": c.get("column"), "rows": rows_named(df, list(part.index), len(part))})
    return held
