"""FOCUS charge periods in whole seconds: no zero-length period, no two rows of one period.

FOCUS 1.0 writes date/times as ``YYYY-MM-DDTHH:mm:ssZ`` (whole seconds), a charge period is
``[ChargePeriodStart, ChargePeriodEnd)``, start inclusive, end exclusive. A scrape window shorter
than a second inside one second (the release flow collects telemetry 0.08–0.7 s apart) cut to whole
seconds is ``[X, X)``: an empty period that carries cost, and two such windows of one module in one
second are two indistinguishable rows. So before the FOCUS rows are built, such a window is merged
with the next window of the same series (module version and labels) that starts where it ends;
a last one joins the window before it (when that one started on the same day, so the same price
applies); a window with no neighbour at all is reported as its whole second ``[X, X+1s)``. Rows of
one series with the same window are summed. Costs and quantities are sums of the windows' own exact
figures, so every total is unchanged::

    >>> import pandas as pd
    >>> at = lambda *xs: pd.to_datetime([f"2026-03-02T10:00:{x}Z" for x in xs])
    >>> rows = pd.DataFrame({"window_start": at("00.1", "00.4", "00.7", "01.5", "05.2"),
    ...                      "ts": at("00.4", "00.7", "01.5", "01.8", "05.5"), "module": ["m"] * 4 + ["k"],
    ...                      "namespace": "n", "digest": "d", "team": "t", "project": "p", "cost_center": "",
    ...                      "fuel": [1, 2, 4, 8, 16]})
    >>> out = whole_second_periods(rows)
    >>> [(a.strftime("%S.%f")[:4], b.strftime("%S.%f")[:4], m, f) for a, b, m, f in zip(
    ...     out.window_start, out.ts, out.module, out.fuel)]
    [('05.2', '06.0', 'k', 16), ('00.1', '01.8', 'm', 15)]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .money import NS

SERIES = ["namespace", "module", "digest", "team", "project", "cost_center"]
SUMMED = ["fuel", "invocations", "reserved_byte_ns", "idle_byte_ns", "fuel_cost", "invocation_cost", "memory_cost",
          "idle_cost", "storage_cost", "total_cost", "_n_fuel", "_n_inv", "_n_mem", "_n_idle", "_n_storage"]
DAY_NS = 86_400 * NS


def _ns(s: pd.Series) -> np.ndarray:
    return s.dt.as_unit("ns").astype("int64").to_numpy()


def _groups(df: pd.DataFrame) -> np.ndarray:
    """Group id per row (rows sorted by series, then time): rows merged into one FOCUS period share it."""
    start, end = _ns(df["window_start"]), _ns(df["ts"])
    cut_s, cut_e = start // NS, end // NS
    key = df.groupby(SERIES, sort=False, dropna=False).ngroup().to_numpy()
    prev = np.r_[False, key[1:] == key[:-1]]
    contig = prev & np.r_[False, start[1:] == end[:-1]]
    dup = prev & np.r_[False, (start[1:] == start[:-1]) & (end[1:] == end[:-1])]
    zero = cut_s == cut_e
    join = dup | (contig & np.r_[False, zero[:-1]])           # forward: a sub-second window joins the next
    gid = np.cumsum(~join)
    first = np.flatnonzero(~join)                              # first row of each group
    last = np.r_[first[1:] - 1, len(df) - 1]
    still = cut_s[first] == cut_e[last]                       # a trailing sub-second run: join the one before
    prev_first = np.r_[0, first[:-1]]
    back = still & contig[first] & (start[prev_first] // DAY_NS == start[first] // DAY_NS)
    back[0] = False
    join[first[back]] = True
    return np.cumsum(~join) if back.any() else gid


def whole_second_periods(costs: pd.DataFrame) -> pd.DataFrame:
    """Usage cost rows (:func:`~wasmops.finops.attribution.attribute`) with every window that is empty
    in whole seconds merged into a neighbour (or widened to its second), and same-window rows summed."""
    if not len(costs):
        return costs
    start, end = _ns(costs["window_start"]), _ns(costs["ts"])
    if not (start // NS == end // NS).any() and not costs.duplicated(SERIES + ["window_start", "ts"]).any():
        return costs                                           # the common case: nothing to merge
    df = costs.sort_values(SERIES + ["ts", "window_start"], kind="stable").reset_index(drop=True)
    gid = _groups(df)
    agg = {c: ("sum" if c in SUMMED else "last" if c == "ts" else "first") for c in df.columns}
    out = df.groupby(gid, sort=False).agg(agg).reset_index(drop=True)
    out["window_s"] = (out["ts"] - out["window_start"]).dt.total_seconds()
    empty = out["window_start"].dt.floor("s") == out["ts"].dt.floor("s")
    out.loc[empty, "ts"] = out.loc[empty, "window_start"].dt.floor("s") + pd.Timedelta(seconds=1)
    return out


__all__ = ["whole_second_periods"]
