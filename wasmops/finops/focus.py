"""Export costs as FOCUS 1.0 (FinOps Open Cost and Usage Specification) cost and usage rows.

One row per (sample window, module version, charge: fuel | memory | invocations), plus one per
artifact storage row. The column mapping is documented in ``docs/focus.md``::

    >>> import tempfile
    >>> from pathlib import Path
    >>> from wasmops.finops import attribute, load_prices, read_focus, to_focus, write_focus
    >>> import pandas as pd
    >>> GiB = 2**30
    >>> samples = pd.DataFrame({      # two hours of telemetry, as wasmops.telemetry stores them
    ...     "ts": pd.to_datetime(["2026-03-02T01:00Z", "2026-03-02T01:00Z"]), "window_s": [3600, 3600],
    ...     "namespace": ["prod", "dev"], "module": ["greet-c", "sum-wat"], "digest": ["sha256:aa", "sha256:bb"],
    ...     "team": ["core", "data"], "project": ["greeter", "analytics"], "cost_center": ["cc-100", "cc-200"],
    ...     "replicas": [2, 1], "fuel": [2_000_000, 500_000], "invocations": [1000, 0],
    ...     "memory_limit": [GiB, GiB], "peak_memory": [GiB // 2, 0]})
    >>> prices = load_prices("deployments/pricing.yaml")
    >>> focus = to_focus(attribute(samples, prices), prices, billing_account="acme", region="eu-local")
    >>> print(focus[["ChargeDescription", "BilledCost", "ConsumedQuantity", "ConsumedUnit"]].to_string(index=False))
                          ChargeDescription     BilledCost ConsumedQuantity ConsumedUnit
         Wasm fuel consumed by prod/greet-c 0.000800000000          2000000         Fuel
          Wasm fuel consumed by dev/sum-wat 0.000200000000           500000         Fuel
    Linear memory reserved for prod/greet-c 0.010000000000   2.000000000000    GiB-Hours
     Linear memory reserved for dev/sum-wat 0.005000000000   1.000000000000    GiB-Hours
                Invocations of prod/greet-c 0.000200000000             1000     Requests
                 Invocations of dev/sum-wat          0E-12                0     Requests
    >>> path = write_focus(focus, Path(tempfile.mkdtemp()) / "costs.csv")
    >>> read_focus(path).shape == focus.shape
    True

``to_focus`` gives money and quantities as :class:`~decimal.Decimal` and times as UTC timestamps;
``write_focus`` writes CSV (decimals as fixed 12-place text, times ISO 8601 with ``Z``, nulls
empty) or Parquet (``decimal128(38, 12)``, ``timestamp[us, UTC]``).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from .focus_periods import whole_second_periods
from .money import GIB, HOUR_S, NS, QUANTUM, SCALE
from .prices import as_pricebook

#: FOCUS 1.0 columns, in the specification's order of appearance (alphabetical).
FOCUS_COLUMNS = [
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription",
    "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart", "CommitmentDiscountCategory",
    "CommitmentDiscountId", "CommitmentDiscountName", "CommitmentDiscountStatus", "CommitmentDiscountType",
    "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice", "EffectiveCost",
    "InvoiceIssuerName", "ListCost", "ListUnitPrice", "PricingCategory", "PricingQuantity", "PricingUnit",
    "ProviderName", "PublisherName", "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType",
    "ServiceCategory", "ServiceName", "SkuId", "SkuPriceId", "SubAccountId", "SubAccountName", "Tags",
]
#: wasmops' own columns (custom columns carry the ``x_`` prefix, as FOCUS asks).
CUSTOM_COLUMNS = ["x_Namespace", "x_Module", "x_Digest", "x_Team", "x_Project", "x_CostCenter", "x_ChargeType",
                  "x_IdleCost"]
DECIMAL_COLUMNS = ["BilledCost", "ConsumedQuantity", "ContractedCost", "ContractedUnitPrice", "EffectiveCost",
                   "ListCost", "ListUnitPrice", "PricingQuantity", "x_IdleCost"]
DATETIME_COLUMNS = ["BillingPeriodEnd", "BillingPeriodStart", "ChargePeriodEnd", "ChargePeriodStart"]
NULL_COLUMNS = ["AvailabilityZone", "ChargeClass", "CommitmentDiscountCategory", "CommitmentDiscountId",
                "CommitmentDiscountName", "CommitmentDiscountStatus", "CommitmentDiscountType"]
#: focus-validator 1.0.0 still checks FOCUS 0.5 names of five columns; ``validator_compat`` adds them.
VALIDATOR_ALIASES = {"ResourceId": "ResourceID", "ProviderName": "Provider", "PublisherName": "Publisher",
                     "InvoiceIssuerName": "InvoiceIssuer", "ChargeCategory": "ChargeType"}

# charge → (price unit, cost column, consumed unit, pricing unit, description)
CHARGES = {
    "fuel": ("fuel-million", "fuel_cost", "Fuel", "1000000 Fuel", "Wasm fuel consumed by"),
    "memory": ("memory-gib-hour", "memory_cost", "GiB-Hours", "GiB-Hours", "Linear memory reserved for"),
    "invocations": ("invocations-million", "invocation_cost", "Requests", "1000000 Requests", "Invocations of"),
    "storage": ("storage-gb-month", "storage_cost", "GB-Months", "GB-Months", "Artifact storage for"),
}
TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


_MICRO = Decimal("0.000001")


def _decimals(values, scale: Decimal | None = None) -> np.ndarray:
    """Integers → Decimal (× ``scale``, exact)."""
    ints = np.asarray(values).tolist()
    if scale is None:
        return np.array(list(map(Decimal, ints)) or [], dtype=object)
    return np.array([Decimal(v) * scale for v in ints], dtype=object)


def _ratio(num: np.ndarray, den) -> np.ndarray:
    """Exact integers num/den rounded half up to 12 places, as Decimal (den scalar or array)."""
    num = np.asarray(num, dtype=object)
    den = np.asarray(den, dtype=object) if not np.isscalar(den) else den
    units = (num * (2 * SCALE) + den) // (den * 2)
    return np.fromiter((Decimal(u) * QUANTUM for u in units), dtype=object, count=len(units))


def _month_bounds(ts: pd.Series) -> tuple[pd.Series, pd.Series]:
    m = ts.dt.tz_localize(None).to_numpy().astype("datetime64[M]")
    start = pd.Series(m.astype("datetime64[ns]"), index=ts.index).dt.tz_localize("UTC")
    end = pd.Series((m + 1).astype("datetime64[ns]"), index=ts.index).dt.tz_localize("UTC")
    return start, end


def _const(value, n: int) -> pd.Series:
    """A column holding one value (built in Arrow: a million rows in milliseconds)."""
    if value is None:
        return pd.Series(np.full(n, None, dtype=object))
    import pyarrow as pa

    return pd.Series(pa.array([value], pa.large_string()).take(pa.array(np.zeros(n, np.int32))), dtype="str")


def _text(s: pd.Series) -> pd.Series:
    return s if str(s.dtype) == "str" else s.astype("str")


def _tags(rows: pd.DataFrame) -> pd.Series:
    key = _text(rows["team"]) + "\x1f" + _text(rows["project"]) + "\x1f" + _text(rows["cost_center"])
    table = {}
    for k in pd.unique(key):
        team, project, cc = k.split("\x1f")
        labels = {"team": team, "project": project}
        if cc:
            labels["cost-center"] = cc
        table[k] = json.dumps(labels, sort_keys=True, separators=(",", ":"))
    return key.map(table).astype("str")


def _charge_rows(rows: pd.DataFrame, charge: str, book) -> pd.DataFrame:
    unit, cost_col, consumed_unit, pricing_unit, desc = CHARGES[charge]
    n = len(rows)
    start = rows["window_start"]
    days = start.dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    idx = book.lookup(unit, days)
    sched = book.schedules.get(unit, [])
    price = np.array([s.amount for s in sched] or [Decimal(0)], dtype=object)[idx]
    sku_price = pd.Series(np.array([f"wasmops-{s.sku_price_id}" for s in sched] or [""], dtype=object)[idx],
                          dtype="str")
    if charge in ("fuel", "invocations"):
        consumed = _decimals(rows[charge].to_numpy(np.int64))
        pricing = _decimals(rows[charge].to_numpy(np.int64), _MICRO)
    elif charge == "memory":
        consumed = pricing = _ratio(rows["reserved_byte_ns"].to_numpy(object), HOUR_S * GIB * NS)
    else:                      # byte-nanoseconds of the exact charge period over GB-month byte-nanoseconds
        span_ns = (rows["ts"] - start).dt.as_unit("ns").to_numpy().astype(np.int64).astype(object)
        num = rows["storage_bytes"].to_numpy(np.int64).astype(object) * span_ns
        month_bns = start.dt.days_in_month.to_numpy(np.int64).astype(object) * (86_400 * 10**9 * NS)
        consumed = pricing = _ratio(num, month_bns)
    cost = rows[cost_col].to_numpy(object)
    bstart, bend = _month_bounds(start)
    ns, module, team = _text(rows["namespace"]), _text(rows["module"]), _text(rows["team"])
    resource_name = ns + "/" + module
    resource_id = resource_name + "@" + _text(rows["digest"])

    def nullable(s: pd.Series) -> pd.Series:        # no value: null, not ""
        s = _text(s)
        return s.where(s != "")

    return pd.DataFrame({
        "BilledCost": cost, "BillingPeriodEnd": bend, "BillingPeriodStart": bstart,
        "ChargeDescription": desc + " " + resource_name, "ChargePeriodEnd": rows["ts"], "ChargePeriodStart": start,
        "ConsumedQuantity": consumed, "ConsumedUnit": _const(consumed_unit, n), "ContractedCost": cost,
        "ContractedUnitPrice": price, "EffectiveCost": cost, "ListCost": cost, "ListUnitPrice": price,
        "PricingQuantity": pricing, "PricingUnit": _const(pricing_unit, n),
        "ResourceId": resource_id, "ResourceName": resource_name,
        "ServiceCategory": _const("Storage" if charge == "storage" else "Compute", n),
        "ServiceName": _const("wasmops registry" if charge == "storage" else "wasmops", n),
        "SkuId": _const(f"wasmops-{unit}", n), "SkuPriceId": sku_price,
        "SubAccountId": team, "SubAccountName": team, "Tags": _tags(rows),
        "x_Namespace": ns, "x_Module": module, "x_Digest": nullable(rows["digest"]), "x_Team": team,
        "x_Project": nullable(rows["project"]), "x_CostCenter": nullable(rows["cost_center"]),
        "x_ChargeType": _const(charge, n),
        "x_IdleCost": rows["idle_cost"].to_numpy(object) if charge == "memory" else np.full(n, None, dtype=object),
    }, index=pd.RangeIndex(n))


def to_focus(costs: pd.DataFrame, pricesheet, *, billing_account: str = "wasmops", region: str = "local",
             provider: str = "wasmops") -> pd.DataFrame:
    """FOCUS 1.0 rows for ``costs`` (from :func:`~wasmops.finops.attribution.attribute`)."""
    book = as_pricebook(pricesheet)
    common = {
        "AvailabilityZone": None, "BillingAccountId": billing_account, "BillingAccountName": billing_account,
        "BillingCurrency": book.currency, "ChargeCategory": "Usage", "ChargeClass": None,
        "ChargeFrequency": "Usage-Based", "CommitmentDiscountCategory": None, "CommitmentDiscountId": None,
        "CommitmentDiscountName": None, "CommitmentDiscountStatus": None, "CommitmentDiscountType": None,
        "InvoiceIssuerName": provider, "PricingCategory": "Standard", "ProviderName": provider,
        "PublisherName": provider, "RegionId": region, "RegionName": region, "ResourceType": "WasmModule",
    }
    storage = costs["storage_bytes"].to_numpy(np.int64) > 0 if "storage_bytes" in costs.columns else \
        np.zeros(len(costs), bool)
    usage, stored = whole_second_periods(costs[~storage].reset_index(drop=True)), costs[storage].reset_index(drop=True)
    parts = [_charge_rows(usage, c, book) for c in ("fuel", "memory", "invocations") if len(usage)]
    if len(stored):
        parts.append(_charge_rows(stored, "storage", book))
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype="datetime64[ns, UTC]" if c in DATETIME_COLUMNS else
                                          object if c in DECIMAL_COLUMNS + NULL_COLUMNS else "str")
                             for c in FOCUS_COLUMNS + CUSTOM_COLUMNS})
    out = pd.concat(parts, ignore_index=True)
    for k, v in common.items():
        out[k] = _const(v, len(out))
    for c in DATETIME_COLUMNS:
        out[c] = pd.to_datetime(out[c], utc=True)
    return out[FOCUS_COLUMNS + CUSTOM_COLUMNS]


def _arrow_table(df: pd.DataFrame, *, text: bool, validator_compat: bool):
    import pyarrow as pa

    cols, names = [], []
    for name in df.columns:
        s = df[name]
        if name in DECIMAL_COLUMNS:
            arr = pa.array(s.to_numpy(object), type=pa.decimal128(38, 12), from_pandas=True)
            if text:       # exactly 12 decimals, positional (Arrow's cast wrote 0E-12 and 7.86800E-7)
                arr = pa.array([None if d is None else format(d, "f") for d in arr.to_pylist()], type=pa.string())
        elif name in DATETIME_COLUMNS:
            if text:
                codes, uniques = pd.factorize(s)
                table = np.array([u.strftime(TS_FORMAT) for u in uniques] + [None], dtype=object)
                arr = pa.array(table[codes], type=pa.string())
            else:
                utc = s.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[us]")
                arr = pa.array(utc).cast(pa.timestamp("us", tz="UTC"))
        elif str(s.dtype) == "str":
            arr = pa.array(s.array).cast(pa.string())          # Arrow-backed already: no copy of the text
        else:
            arr = pa.array(s.to_numpy(object), type=pa.string(), from_pandas=True)
        cols.append(arr)
        names.append(name)
    if validator_compat:
        for spec, old in VALIDATOR_ALIASES.items():
            if spec in names:
                cols.append(cols[names.index(spec)])
                names.append(old)
    return pa.Table.from_arrays(cols, names=names)


def write_focus(df: pd.DataFrame, path: str | Path, *, validator_compat: bool = False) -> Path:
    """Write FOCUS rows to ``.csv`` or ``.parquet``.

    ``validator_compat`` also writes ``ResourceID``, ``Provider``, ``Publisher``, ``InvoiceIssuer``
    and ``ChargeType`` (copies): the FinOps Foundation's focus-validator 1.0.0 checks those FOCUS 0.5
    names instead of FOCUS 1.0's ``ResourceId``, ``ProviderName``, ``PublisherName``,
    ``InvoiceIssuerName`` and ``ChargeCategory``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        import pyarrow.csv as pcsv

        pcsv.write_csv(_arrow_table(df, text=True, validator_compat=validator_compat), path)
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(_arrow_table(df, text=False, validator_compat=validator_compat), path)
    else:
        raise ValueError(f"{path}: write .csv or .parquet")
    return path


def read_focus(path: str | Path) -> pd.DataFrame:
    """Read a file written by :func:`write_focus` back with the same types (Decimal, UTC timestamps)."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        df = pd.read_parquet(path)
        for c in DATETIME_COLUMNS:
            if c in df.columns:
                df[c] = df[c].dt.as_unit("ns")
        return df
    df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    for c in df.columns:
        if c in DECIMAL_COLUMNS:
            df[c] = pd.Series([Decimal(v) if isinstance(v, str) else None for v in df[c]], dtype=object)
        elif c in DATETIME_COLUMNS:
            df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601")
    return df
