"""Cost attribution: telemetry samples × prices → a cost row per sample, exact to the pico-unit.

Each telemetry sample covers the window ``(ts - window_s, ts]`` for one module version and carries
the module's labels *at the time of use*; attribution charges the sample's own ``team``,
``project`` and ``cost_center`` (a later label change does not rewrite history). Prices are those
in effect on the day the window starts (UTC). Per sample:

===================  ==================================================================================
``fuel_cost``        ``fuel / 1e6 × price(fuel-million)``
``invocation_cost``  ``invocations / 1e6 × price(invocations-million)``
``memory_cost``      reserved memory: ``memory_limit × replicas × window_s / 3600 / 2**30 × price(memory-gib-hour)``,
                     with the window exact to the nanosecond (a 20.6 s scrape window bills 20.6 s, not 21)
``idle_cost``        the part of ``memory_cost`` that paid for memory nobody used:
                     ``(memory_limit − min(peak_memory, memory_limit)) × replicas × hours / GiB × price``.
                     ``peak_memory`` is the largest linear memory of a replica in the window, so this is a
                     lower bound of the waste. It is *included* in ``memory_cost``, not added to the total.
``storage_cost``     artifact bytes / 1e9 × price(storage-gb-month) × the fraction of the calendar month
                     stored (only for the extra rows made from ``artifacts``)
``total_cost``       ``fuel_cost + invocation_cost + memory_cost + storage_cost``
===================  ==================================================================================

Money columns hold :class:`~decimal.Decimal` rounded to 12 places. Totals from :func:`report` and
:func:`cost_over_time` are summed from exact integer numerators (the ``_n_*`` columns, over
:data:`~wasmops.finops.money.DENOM`) and rounded once, so they are exact even where one sample's
cost has no finite decimal form (e.g. a 60-second window of 1 MiB)::

    >>> from wasmops.finops import attribute, load_prices, report
    >>> import pandas as pd
    >>> GiB = 2**30
    >>> samples = pd.DataFrame({      # two hours of telemetry, as wasmops.telemetry stores them
    ...     "ts": pd.to_datetime(["2026-03-02T01:00Z", "2026-03-02T01:00Z"]), "window_s": [3600, 3600],
    ...     "namespace": ["prod", "dev"], "module": ["greet-c", "sum-wat"], "digest": ["sha256:aa", "sha256:bb"],
    ...     "team": ["core", "data"], "project": ["greeter", "analytics"], "cost_center": ["cc-100", "cc-200"],
    ...     "replicas": [2, 1], "fuel": [2_000_000, 500_000], "invocations": [1000, 0],
    ...     "memory_limit": [GiB, GiB], "peak_memory": [GiB // 2, 0]})
    >>> costs = attribute(samples, load_prices("deployments/pricing.yaml"))
    >>> cols = ["module", "fuel_cost", "invocation_cost", "memory_cost", "idle_cost", "total_cost"]
    >>> print(costs[cols].to_string(index=False))
     module      fuel_cost invocation_cost    memory_cost      idle_cost     total_cost
    greet-c 0.000800000000  0.000200000000 0.010000000000 0.005000000000 0.011000000000
    sum-wat 0.000200000000           0E-12 0.005000000000 0.005000000000 0.005200000000
    >>> report(costs, by="team")["total_cost"].to_dict()
    {'core': Decimal('0.011000000000'), 'data': Decimal('0.005200000000')}
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from .money import (NS, PER_GB_MONTH_NS, PER_GIB_HOUR_NS, PER_MILLION, from_decimal, to_decimal, to_decimals,
                    window_ns)
from .prices import as_pricebook

REQUIRED = ["ts", "window_s", "namespace", "module", "digest", "team", "project", "cost_center",
            "invocations", "fuel", "peak_memory", "memory_limit", "replicas"]
LABELS = ["namespace", "module", "digest", "team", "project", "cost_center"]
MONEY = ["fuel_cost", "invocation_cost", "memory_cost", "idle_cost", "storage_cost", "total_cost"]
#: Exact numerator column for each money column (total is their sum, idle excluded).
NUMERATORS = {"fuel_cost": "_n_fuel", "invocation_cost": "_n_inv", "memory_cost": "_n_mem",
              "idle_cost": "_n_idle", "storage_cost": "_n_storage"}
BY = {"team": ["team"], "project": ["project"], "cost_center": ["cost_center"], "namespace": ["namespace"],
      "module": ["namespace", "module"], "digest": ["namespace", "module", "digest"]}
UNALLOCATED = "unallocated"


def _obj(a) -> np.ndarray:
    return np.asarray(a).astype(object)


def _days(ts: pd.Series) -> np.ndarray:
    return ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[D]")


def attribute(samples: pd.DataFrame, prices, *, artifacts: pd.DataFrame | None = None) -> pd.DataFrame:
    """One cost row per sample (plus storage rows when ``artifacts`` is given; see :func:`storage_costs`).

    ``prices``: a PriceBook, PriceSheet, path or DesiredState. ``artifacts``: optional frame with
    ``digest`` and ``size_bytes`` (labels default to the newest sample of that digest), charged for
    the period the samples cover.
    """
    book = as_pricebook(prices)
    missing = [c for c in REQUIRED if c not in samples.columns]
    if missing:
        raise ValueError(f"telemetry samples lack column(s) {missing}")
    df = samples.reset_index(drop=True)
    ts = pd.to_datetime(df["ts"], utc=True)
    raw_window = df["window_s"].to_numpy()
    if raw_window.dtype.kind == "f" and not np.isfinite(raw_window).all():
        raise ValueError("telemetry samples have a window_s that is not a finite number")
    wns = window_ns(raw_window)
    start = ts - pd.to_timedelta(wns, unit="ns")
    days = _days(start)
    fuel = df["fuel"].to_numpy(np.int64)
    inv = df["invocations"].to_numpy(np.int64)
    limit = df["memory_limit"].to_numpy(np.int64)
    replicas = df["replicas"].to_numpy(np.int64)
    peak = np.clip(df["peak_memory"].to_numpy(np.int64), 0, limit)
    if (fuel < 0).any() or (inv < 0).any() or (limit < 0).any() or (replicas < 0).any() or (wns < 0).any():
        raise ValueError("telemetry samples have negative counts, limits, replicas or windows")

    pf, fi = book.units_at("fuel-million", days)
    pi, ii = book.units_at("invocations-million", days)
    pm, mi = book.units_at("memory-gib-hour", days)
    reserved_bns = _obj(limit) * _obj(replicas) * _obj(wns)      # byte-nanoseconds: exact
    idle_bns = _obj(limit - peak) * _obj(replicas) * _obj(wns)
    n_fuel = _obj(fuel) * _obj(pf) * PER_MILLION
    n_inv = _obj(inv) * _obj(pi) * PER_MILLION
    n_mem = reserved_bns * _obj(pm) * PER_GIB_HOUR_NS
    n_idle = idle_bns * _obj(pm) * PER_GIB_HOUR_NS
    n_storage = np.zeros(len(df), dtype=object)

    def amounts(unit: str, idx: np.ndarray) -> np.ndarray:
        table = np.array([s.amount for s in book.schedules.get(unit, [])] or [Decimal(0)], dtype=object)
        return table[idx] if len(idx) else np.empty(0, dtype=object)

    out = pd.DataFrame({
        "ts": ts, "window_start": start, "window_s": wns / NS,
        **{c: df[c].fillna(UNALLOCATED).astype("str").replace("", UNALLOCATED) if c in ("team", "project")
           else df[c].fillna("").astype("str") for c in LABELS},
        "replicas": replicas, "fuel": fuel, "invocations": inv, "memory_limit": limit, "peak_memory": peak,
        "reserved_byte_ns": reserved_bns, "idle_byte_ns": idle_bns, "storage_bytes": np.zeros(len(df), np.int64),
        "fuel_price": amounts("fuel-million", fi), "invocation_price": amounts("invocations-million", ii),
        "memory_price": amounts("memory-gib-hour", mi), "storage_price": np.full(len(df), Decimal(0), dtype=object),
        "_n_fuel": n_fuel, "_n_inv": n_inv, "_n_mem": n_mem, "_n_idle": n_idle, "_n_storage": n_storage,
    })
    _money_columns(out)
    out.attrs["currency"] = book.currency
    if artifacts is not None and len(artifacts) and len(out):
        store = storage_costs(_label_artifacts(artifacts, df, ts), book,
                              start=start.min(), end=ts.max())
        out = pd.concat([out, store], ignore_index=True)
        out.attrs["currency"] = book.currency
    return out


def _money_columns(out: pd.DataFrame) -> None:
    for col, ncol in NUMERATORS.items():
        out[col] = to_decimals(out[ncol].to_numpy(object))
    total = out["_n_fuel"].to_numpy(object) + out["_n_inv"].to_numpy(object) \
        + out["_n_mem"].to_numpy(object) + out["_n_storage"].to_numpy(object)
    out["total_cost"] = to_decimals(total)


def _label_artifacts(artifacts: pd.DataFrame, samples: pd.DataFrame, ts: pd.Series) -> pd.DataFrame:
    if "digest" not in artifacts.columns or "size_bytes" not in artifacts.columns:
        raise ValueError("artifacts need columns digest and size_bytes")
    a = artifacts.copy()
    need = [c for c in LABELS if c != "digest" and c not in a.columns]
    if need:
        latest = samples.assign(_ts=ts).sort_values("_ts").drop_duplicates("digest", keep="last")
        a = a.merge(latest[["digest", *need]], on="digest", how="left")
        for c in need:
            a[c] = a[c].fillna(UNALLOCATED if c in ("team", "project") else "")
    return a


def _month_pieces(start: datetime, end: datetime):
    """Split [start, end) at calendar-month boundaries (UTC): (piece_start, piece_end, days_in_month)."""
    cur = start
    while cur < end:
        y, m = cur.year, cur.month
        nxt = pd.Timestamp(datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=timezone.utc))
        piece_end = min(nxt, end)
        yield cur, piece_end, calendar.monthrange(y, m)[1]
        cur = piece_end


def storage_costs(artifacts: pd.DataFrame, prices, *, start: datetime, end: datetime) -> pd.DataFrame:
    """Storage rows: each artifact (``size_bytes``, with labels) charged per GB-month for [start, end).

    A GB-month is 1e9 bytes stored for a whole calendar month; a part of a month is charged by
    its share of that month's seconds. Rows have the :func:`attribute` columns (other costs 0).
    """
    book = as_pricebook(prices)
    cols = [*LABELS, "size_bytes"]
    missing = [c for c in cols if c not in artifacts.columns]
    if missing:
        raise ValueError(f"artifacts lack column(s) {missing}")
    start, end = _as_ts(start).as_unit("ns"), _as_ts(end).as_unit("ns")   # nanoseconds, like the samples
    size = artifacts["size_bytes"].to_numpy(np.int64)
    frames = []
    for p0, p1, mdays in _month_pieces(start, end):
        span_ns = int((p1 - p0).value)
        entry = book.entry_for("storage-gb-month", p0)
        n = _obj(size) * entry.units * span_ns * PER_GB_MONTH_NS[mdays]
        k = len(artifacts)
        zeros, zobj = np.zeros(k, np.int64), np.zeros(k, dtype=object)
        frames.append(pd.DataFrame({
            "ts": pd.Series([pd.Timestamp(p1)] * k, dtype="datetime64[ns, UTC]"),
            "window_start": pd.Series([pd.Timestamp(p0)] * k, dtype="datetime64[ns, UTC]"),
            "window_s": np.full(k, span_ns / NS, np.float64),
            **{c: artifacts[c].astype("str").to_numpy() for c in LABELS},
            "replicas": zeros, "fuel": zeros, "invocations": zeros, "memory_limit": zeros, "peak_memory": zeros,
            "reserved_byte_ns": zobj, "idle_byte_ns": zobj, "storage_bytes": size,
            "fuel_price": np.full(k, Decimal(0), dtype=object),
            "invocation_price": np.full(k, Decimal(0), dtype=object),
            "memory_price": np.full(k, Decimal(0), dtype=object),
            "storage_price": np.full(k, entry.amount, dtype=object),
            "_n_fuel": zobj, "_n_inv": zobj, "_n_mem": zobj, "_n_idle": zobj, "_n_storage": n,
        }))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(out):
        _money_columns(out)
    out.attrs["currency"] = book.currency
    return out


# -- reports ------------------------------------------------------------------------------------
def _keys(by) -> list[str]:
    if isinstance(by, str):
        if by not in BY:
            raise ValueError(f"cannot report by {by!r}; use one of {', '.join(BY)}")
        return BY[by]
    return list(by)


def _as_ts(t) -> pd.Timestamp:
    t = pd.Timestamp(t)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def in_period(costs: pd.DataFrame, since=None, until=None) -> pd.DataFrame:
    """Rows whose window starts at or after ``since`` and ends at or before ``until`` (the one rule of
    `cost report` and `cost export`: the export kept a window straddling --since that the report left out)."""
    if since is not None:
        costs = costs[costs["window_start"] >= _as_ts(since)]
    if until is not None:
        costs = costs[costs["ts"] <= _as_ts(until)]
    return costs


def _numerators(costs: pd.DataFrame) -> pd.DataFrame:
    """The exact numerator columns (derived from the Decimal columns for hand-made frames)."""
    out = {}
    for col, ncol in NUMERATORS.items():
        if ncol in costs.columns:
            out[col] = costs[ncol].astype(object)
        elif col in costs.columns:
            out[col] = costs[col].map(from_decimal).astype(object)
        else:
            out[col] = pd.Series(0, index=costs.index, dtype=object)
    n = pd.DataFrame(out, index=costs.index)
    n["total_cost"] = n["fuel_cost"] + n["invocation_cost"] + n["memory_cost"] + n["storage_cost"]
    return n


def totals(costs: pd.DataFrame, *, since=None, until=None) -> dict[str, Decimal]:
    """Exact totals of every money column over ``costs`` (optionally a time window)."""
    rows = in_period(costs, since, until)
    n = _numerators(rows)
    return {c: to_decimal(sum(n[c].tolist())) for c in MONEY}


def report(costs: pd.DataFrame, by="team", since=None, until=None) -> pd.DataFrame:
    """Totals per ``by`` (team | project | module | cost_center | namespace | digest), Decimal,
    sorted by total, with ``idle_cost`` (part of ``memory_cost``) and ``idle_share`` of memory."""
    keys = _keys(by)
    rows = in_period(costs, since, until)
    n = _numerators(rows)
    for k in keys:
        n[k] = rows[k].to_numpy()
    cols = MONEY + ["idle_share"]
    if not len(n):
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols},
                            index=pd.MultiIndex.from_tuples([], names=keys) if len(keys) > 1 else
                            pd.Index([], name=keys[0]))
    g = n.groupby(keys, sort=True)[MONEY].sum()
    out = pd.DataFrame({c: to_decimals(g[c].to_numpy(object)) for c in MONEY}, index=g.index)
    mem = g["memory_cost"].to_numpy(object)
    idle = g["idle_cost"].to_numpy(object)
    out["idle_share"] = [(Decimal(i) / Decimal(m)).quantize(Decimal("0.0001")) if m else Decimal(0)
                         for i, m in zip(idle, mem, strict=True)]
    out = out.iloc[np.argsort(-g["total_cost"].to_numpy(object).astype(float), kind="stable")]
    out.attrs["currency"] = costs.attrs.get("currency")
    return out


def _periods(ws: pd.Series, freq: str) -> pd.Series:
    try:
        return ws.dt.floor(freq)
    except ValueError:
        f = {"MS": "M", "ME": "M", "W-MON": "W-SUN"}.get(freq, freq)
        return ws.dt.tz_localize(None).dt.to_period(f).dt.start_time.dt.tz_localize("UTC")


def cost_over_time(costs: pd.DataFrame, by="team", freq: str = "1D", column: str = "total_cost",
                   since=None, until=None) -> pd.DataFrame:
    """Wide frame: one row per period (by window start, UTC), one column per ``by`` value, Decimal."""
    keys = _keys(by)
    rows = in_period(costs, since, until)
    n = _numerators(rows)
    label = rows[keys[0]] if len(keys) == 1 else rows[keys].astype(str).agg("/".join, axis=1)
    frame = pd.DataFrame({"period": _periods(rows["window_start"], freq), "key": label.to_numpy(),
                          "n": n[column].to_numpy(object)})
    if not len(frame):
        return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="period"))
    g = frame.groupby(["period", "key"], sort=True)["n"].sum()
    wide = g.unstack("key")
    wide = wide.apply(lambda col: pd.Series(to_decimals(col.fillna(0).to_numpy(object)), index=col.index))
    wide.columns.name = by if isinstance(by, str) else "/".join(keys)
    wide.attrs["currency"] = costs.attrs.get("currency")
    return wide


def chart_freq(costs: pd.DataFrame) -> str:
    """A period that fits the data's span: minutes for a few hours, hours for a few days, else days
    (three minutes of data are three one-minute bars, not one bar of a day)."""
    if costs is None or not len(costs) or "window_start" not in costs:
        return "1D"
    span = pd.to_datetime(costs["window_start"]).max() - pd.to_datetime(costs["window_start"]).min()
    return "1min" if span <= pd.Timedelta(hours=3) else "1h" if span <= pd.Timedelta(days=3) else "1D"


def chart_png(costs: pd.DataFrame, path: str | Path, by="team", freq: str | None = None, *,
              title: str | None = None) -> Path:
    """A stacked bar chart (stacked area past 62 periods) of cost over time per ``by``. Matplotlib, Agg.
    ``freq`` None picks the period from the data's span (:func:`chart_freq`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg   # Agg, whatever pyplot's backend is
    from matplotlib.figure import Figure

    freq = freq or chart_freq(costs)

    wide = cost_over_time(costs, by=by, freq=freq)
    currency = costs.attrs.get("currency") or ""
    fig = Figure(figsize=(10, 5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if len(wide):
        data = wide.map(float)
        data = data[data.sum().sort_values(ascending=False).index]
        x = data.index.tz_localize(None)
        import matplotlib

        cmap = matplotlib.colormaps["tab20" if data.shape[1] > 10 else "tab10"]
        colors = [cmap(i % cmap.N) for i in range(data.shape[1])]
        if len(data) <= 62:
            bottom = np.zeros(len(data))
            width = (x[1] - x[0]) * 0.8 if len(x) > 1 else pd.Timedelta(freq).to_pytimedelta() * 0.8
            for col, color in zip(data.columns, colors, strict=True):
                ax.bar(x, data[col].to_numpy(), width=width, bottom=bottom, label=str(col), color=color)
                bottom += data[col].to_numpy()
        else:
            ax.stackplot(x, *[data[c].to_numpy() for c in data.columns], labels=[str(c) for c in data.columns],
                         colors=colors)
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles[::-1], labels[::-1], title=by if isinstance(by, str) else None, loc="upper left",
                  bbox_to_anchor=(1.01, 1), fontsize="small", ncols=max(1, (len(data.columns) + 19) // 20))
    else:
        ax.text(0.5, 0.5, "no cost data", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title or f"wasmops cost per {by} ({freq})")
    ax.set_ylabel(f"cost ({currency})" if currency else "cost")
    ax.grid(axis="y", alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def month_bounds(now: datetime | date) -> tuple[datetime, datetime]:
    """[first of the month, first of next month) in UTC for ``now``."""
    if not isinstance(now, datetime):
        now = datetime(now.year, now.month, now.day, tzinfo=timezone.utc)
    now = now.astimezone(timezone.utc) if now.tzinfo else now.replace(tzinfo=timezone.utc)
    first = datetime(now.year, now.month, 1, tzinfo=timezone.utc)
    nxt = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=timezone.utc)
    return first, nxt
