"""The telemetry sample schema: one row per (namespace, module, digest) per sample window.

The ML models and FinOps read these exact column names and dtypes, so every producer (the
scraper, the Prometheus query, the synthesizer, the store) goes through :func:`coerce`::

    >>> from wasmops.telemetry.schema import to_frame, COLUMNS
    >>> df = to_frame([{"ts": "2025-01-06T01:00:00Z", "window_s": 3600, "namespace": "prod",
    ...                 "module": "echo", "digest": "sha256:ab", "invocations": 10}])
    >>> list(df.columns) == COLUMNS, str(df["ts"].dtype), int(df["errors"].iloc[0])
    (True, 'datetime64[ns, UTC]', 0)

``ts`` is the *end* of the window ``(ts - window_s, ts]``; ``window_s`` is in seconds, a float exact to
the nanosecond (the collector's windows run from one scrape to the next, not whole seconds).
Counts (``invocations``, ``errors``,
``fuel``) are deltas within the window; ``peak_memory`` is the largest linear memory seen in it;
``memory_limit`` is per replica. Quantile columns are 0.0 for a window without invocations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

TS_DTYPE = "datetime64[ns, UTC]"

#: How far ahead of the reader's clock a sample's ``ts`` may be (clocks of hosts and collector
#: differ a little). Later rows are from the future: GX fails them, the store quarantines them.
CLOCK_SKEW = pd.Timedelta(minutes=5)

#: The sample schema, in column order.
DTYPES: dict[str, str] = {
    "ts": TS_DTYPE,
    "window_s": "float64",   # seconds, exact to the nanosecond (a scrape window is not whole seconds)
    "namespace": "str",
    "module": "str",
    "digest": "str",
    "team": "str",
    "project": "str",
    "cost_center": "str",
    "invocations": "int64",
    "errors": "int64",
    "fuel": "int64",
    "peak_memory": "int64",
    "memory_limit": "int64",
    "replicas": "int64",
    "latency_p50_ms": "float64",
    "latency_p95_ms": "float64",
    "fuel_p99_per_call": "float64",
    "memory_p99": "float64",
}
COLUMNS: list[str] = list(DTYPES)

#: Columns the synthesizer adds (ground truth for the anomaly models).
LABEL_DTYPES: dict[str, str] = {"is_anomaly": "bool", "anomaly_kind": "str"}

#: A sample is identified by these; the store's primary key.
KEY: list[str] = ["namespace", "module", "digest", "ts"]
#: Identity of a series (one module version on the host).
SERIES: list[str] = ["namespace", "module", "digest"]

STR_COLUMNS = [c for c, t in DTYPES.items() if t == "str"]
INT_COLUMNS = [c for c, t in DTYPES.items() if t == "int64"]
FLOAT_COLUMNS = [c for c, t in DTYPES.items() if t == "float64"]

_DEFAULTS: dict[str, object] = {"team": "", "project": "", "cost_center": "", "replicas": 1}


def _ts(values) -> pd.Series:
    """Any timestamps (datetimes, ISO strings, epoch seconds as float) → UTC, nanoseconds."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if s.dtype.kind in "fiu":
        s = pd.to_datetime(s, unit="s", utc=True)
    elif pd.api.types.is_string_dtype(s.dtype):
        s = pd.to_datetime(s, utc=True, format="ISO8601")
    else:
        s = pd.to_datetime(s, utc=True)
    return s.dt.as_unit("ns")


def coerce(df: pd.DataFrame, *, labels: bool | None = None) -> pd.DataFrame:
    """Return ``df`` with exactly the schema columns, in order, with the schema dtypes.

    Missing optional columns get defaults (``team``/``project``/``cost_center`` ``""``,
    ``replicas`` 1, other numbers 0). ``labels``: keep ``is_anomaly``/``anomaly_kind``
    (None: keep them when present). Raises ``ValueError`` for a missing key column or a value
    that cannot be converted (e.g. a null in an integer column).
    """
    missing = [c for c in KEY + ["window_s"] if c not in df.columns]
    if missing:
        raise ValueError(f"telemetry frame lacks required column(s) {missing}")
    keep_labels = ("is_anomaly" in df.columns) if labels is None else labels
    out: dict[str, pd.Series] = {}
    n = len(df)
    index = pd.RangeIndex(n)
    for col, dtype in DTYPES.items():
        if col in df.columns:
            s = df[col].reset_index(drop=True)
        else:
            s = pd.Series(np.full(n, _DEFAULTS.get(col, 0)), index=index)
        if col == "ts":
            s = _ts(s) if str(s.dtype) != TS_DTYPE else s
        elif dtype == "str":
            s = s.fillna("").astype("str") if str(s.dtype) != "str" or s.isna().any() else s
        elif dtype == "int64":
            if s.isna().any():
                raise ValueError(f"column {col!r} has null values; it must be int64")
            s = s.astype("int64") if s.dtype != np.int64 else s
        else:
            s = s.astype("float64") if s.dtype != np.float64 else s
        out[col] = s
    if keep_labels:
        out["is_anomaly"] = (df["is_anomaly"].reset_index(drop=True).fillna(False).astype(bool)
                             if "is_anomaly" in df.columns else pd.Series(np.zeros(n, bool), index=index))
        out["anomaly_kind"] = (df["anomaly_kind"].reset_index(drop=True).fillna("").astype("str")
                               if "anomaly_kind" in df.columns else pd.Series([""] * n, index=index, dtype="str"))
    return pd.DataFrame(out, index=index)


def to_frame(rows: Iterable[Mapping]) -> pd.DataFrame:
    """Sample rows (dicts) → a schema DataFrame (an empty one for no rows)."""
    rows = list(rows)
    if not rows:
        return empty()
    return coerce(pd.DataFrame.from_records(rows))


def empty(*, labels: bool = False) -> pd.DataFrame:
    """A zero-row frame with the schema dtypes."""
    dtypes = {**DTYPES, **(LABEL_DTYPES if labels else {})}
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in dtypes.items()})


def check_dtypes(df: pd.DataFrame) -> list[str]:
    """Columns whose dtype differs from the schema (or that are missing), as readable strings."""
    problems = []
    for col, dtype in DTYPES.items():
        if col not in df.columns:
            problems.append(f"{col}: missing")
        elif str(df[col].dtype) != dtype:
            problems.append(f"{col}: {df[col].dtype} (want {dtype})")
    return problems
