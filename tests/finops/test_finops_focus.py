import fcntl
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from finops_helpers import MIB, frame, sample

from wasmops.finops.attribution import attribute, totals
from wasmops.finops.focus import (
    CUSTOM_COLUMNS,
    DATETIME_COLUMNS,
    DECIMAL_COLUMNS,
    FOCUS_COLUMNS,
    read_focus,
    to_focus,
    write_focus,
)

D = Decimal
REQUIRED = [
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceName",
    "ServiceCategory",
    "ConsumedQuantity",
    "ConsumedUnit",
    "PricingQuantity",
    "PricingUnit",
    "ListUnitPrice",
    "ContractedUnitPrice",
    "RegionId",
    "RegionName",
    "AvailabilityZone",
    "SubAccountId",
    "SubAccountName",
    "BillingAccountId",
    "BillingAccountName",
    "ProviderName",
    "PublisherName",
    "InvoiceIssuerName",
    "PricingCategory",
    "SkuId",
    "SkuPriceId",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "Tags",
]


@pytest.fixture
def costs(book):
    rows = [
        sample(
            "2026-03-31T23:00:00Z",
            fuel=3_000_000,
            invocations=250_000,
            memory_limit=16 * MIB,
            replicas=2,
            peak_memory=4 * MIB,
        ),
        sample(
            "2026-04-01T01:00:00Z",
            module="etl",
            digest="sha256:" + "e" * 64,
            team="data",
            project="pipe",
            cost_center="",
            fuel=1_000_000,
            invocations=10,
            memory_limit=2 * MIB,
            window_s=60,
        ),
    ]
    art = pd.DataFrame({"digest": ["sha256:" + "e" * 64], "size_bytes": [1_000_000_000]})
    return attribute(frame(rows), book, artifacts=art)


def test_focus_rows_columns_and_values(costs, book):
    f = to_focus(costs, book, billing_account="acme", region="eu-local")
    assert set(REQUIRED) <= set(f.columns) and list(f.columns) == FOCUS_COLUMNS + CUSTOM_COLUMNS
    assert len(f) == 2 * 3 + 2  # 2 samples × (fuel, memory, invocations) + 2 storage rows
    fuel = f[(f.x_ChargeType == "fuel") & (f.x_Module == "greet")].iloc[0]
    assert fuel.BilledCost == fuel.EffectiveCost == fuel.ListCost == fuel.ContractedCost == D("0.0012")
    assert (fuel.ConsumedQuantity, fuel.ConsumedUnit, fuel.PricingQuantity, fuel.PricingUnit) == (
        D(3_000_000),
        "Fuel",
        D(3),
        "1000000 Fuel",
    )
    assert fuel.ListUnitPrice == fuel.ContractedUnitPrice == D("0.0004")
    assert fuel.ResourceId == "dev/greet@sha256:" + "a" * 64 and fuel.ResourceName == "dev/greet"
    assert (fuel.ResourceType, fuel.ServiceName, fuel.ServiceCategory) == ("WasmModule", "wasmops", "Compute")
    assert (fuel.ChargeCategory, fuel.ChargeFrequency, fuel.PricingCategory) == ("Usage", "Usage-Based", "Standard")
    assert fuel.ChargeClass is None and fuel.AvailabilityZone is None and fuel.CommitmentDiscountId is None
    assert (fuel.SubAccountId, fuel.BillingAccountId, fuel.RegionId, fuel.BillingCurrency) == (
        "core",
        "acme",
        "eu-local",
        "USD",
    )
    assert (fuel.SkuId, fuel.SkuPriceId) == ("wasmops-fuel-million", "wasmops-fuel-million@2026-01-01")
    assert json.loads(fuel.Tags) == {"team": "core", "project": "hello", "cost-center": "cc-1"}
    assert (
        str(fuel.ChargePeriodStart) == "2026-03-31 22:00:00+00:00"
        and str(fuel.ChargePeriodEnd) == "2026-03-31 23:00:00+00:00"
    )
    assert (
        str(fuel.BillingPeriodStart) == "2026-03-01 00:00:00+00:00"
        and str(fuel.BillingPeriodEnd) == "2026-04-01 00:00:00+00:00"
    )
    mem = f[(f.x_ChargeType == "memory") & (f.x_Module == "greet")].iloc[0]
    assert (mem.PricingQuantity, mem.PricingUnit, mem.BilledCost, mem.x_IdleCost) == (
        D("0.03125"),
        "GiB-Hours",
        D("0.00015625"),
        D("0.0001171875"),
    )
    inv = f[(f.x_ChargeType == "invocations") & (f.x_Module == "etl")].iloc[0]
    assert json.loads(inv.Tags) == {"team": "data", "project": "pipe"} and inv.PricingUnit == "1000000 Requests"
    storage = f[f.x_ChargeType == "storage"]
    assert set(storage.ServiceCategory) == {"Storage"} and set(storage.PricingUnit) == {"GB-Months"}
    greet = f[f.x_Module == "greet"]  # whole-hour windows: every row is exact
    assert sum(greet.BilledCost) == totals(costs[costs.module == "greet"])["total_cost"]
    # elsewhere each row is rounded to 12 places once; the exact total differs by at most half a unit a row
    assert abs(sum(f.BilledCost) - totals(costs)["total_cost"]) <= len(f) * D("0.5e-12")
    for c in DATETIME_COLUMNS:
        assert str(f[c].dtype) == "datetime64[ns, UTC]"
    for c in DECIMAL_COLUMNS:
        assert all(v is None or isinstance(v, Decimal) for v in f[c])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_round_trip(costs, book, tmp_path, suffix):
    f = to_focus(costs, book)
    path = write_focus(f, tmp_path / f"focus{suffix}")
    back = read_focus(path)
    assert list(back.columns) == list(f.columns)
    for c in f.columns:
        want, got = f[c].tolist(), back[c].tolist()
        if c in DATETIME_COLUMNS:
            assert [str(x) for x in got] == [str(x) for x in want], c
        else:
            assert [None if pd.isna(x) else x for x in got] == [None if pd.isna(x) else x for x in want], c


def test_csv_text_format(costs, book, tmp_path):
    path = write_focus(to_focus(costs, book), tmp_path / "focus.csv")
    rows = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert rows.loc[0, "BilledCost"] == "0.001200000000" and rows.loc[0, "ListUnitPrice"] == "0.000400000000"
    assert rows.loc[0, "ChargePeriodStart"] == "2026-03-31T22:00:00Z"
    assert rows.loc[0, "ChargeClass"] == "" and rows.loc[0, "AvailabilityZone"] == ""
    assert "ResourceID" not in rows.columns
    compat = pd.read_csv(write_focus(to_focus(costs, book), tmp_path / "c.csv", validator_compat=True), dtype=str)
    assert (compat["ResourceID"] == compat["ResourceId"]).all() and (compat["ChargeType"] == "Usage").all()


@settings(max_examples=30, deadline=None)
@given(cost=st.decimals(min_value=0, max_value=10**6, places=12, allow_nan=False))
def test_every_money_value_in_the_csv_has_exactly_12_decimals_never_an_exponent(cost, tmp_path_factory):
    """A FinOps user found 0E-12 and 7.86800E-7 in BilledCost (docs/focus.md: text with exactly 12 decimals)."""
    import re

    from wasmops.finops.focus import DECIMAL_COLUMNS, _arrow_table

    df = pd.DataFrame({"BilledCost": [cost, Decimal(0)]})
    assert "BilledCost" in DECIMAL_COLUMNS
    text = _arrow_table(df, text=True, validator_compat=False).column("BilledCost").to_pylist()
    assert all(re.fullmatch(r"\d+\.\d{12}", v) for v in text), text
    assert Decimal(text[0]) == cost and text[1] == "0.000000000000"


def test_unknown_suffix(costs, book, tmp_path):
    with pytest.raises(ValueError, match="write .csv or .parquet"):
        write_focus(to_focus(costs, book), tmp_path / "x.json")


# -- the FinOps Foundation's validator -------------------------------------------------------------
def _validator_venv() -> Path:
    """focus-validator 1.0.0 in its own venv (it pins pandas/numpy versions we don't use), cached."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "wasmops" / "focusv"
    cache.parent.mkdir(parents=True, exist_ok=True)
    ok = cache / ".installed-1.0.0"
    with open(cache.parent / "focusv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ok.exists():
            steps = [
                [sys.executable, "-m", "venv", "--clear", str(cache)],
                [str(cache / "bin" / "pip"), "install", "-q", "focus-validator==1.0.0", "multimethod<1.11"],
            ]
            for cmd in steps:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
                if r.returncode != 0:
                    pytest.fail(
                        f"could not install focus-validator ({' '.join(cmd)}):\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
                    )
            ok.write_text("ok\n")
    return cache


@pytest.mark.slow
def test_focus_validator_1_0_accepts_the_export(costs, book, tmp_path):
    venv = _validator_venv()
    data = write_focus(to_focus(costs, book), tmp_path / "focus.csv", validator_compat=True)
    site = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import focus_validator, os; print(os.path.dirname(os.path.dirname(focus_validator.__file__)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    report = tmp_path / "report.xml"
    # cwd: the validator reads its currency list from a path relative to site-packages
    r = subprocess.run(
        [
            str(venv / "bin" / "focus-validator"),
            "--data-file",
            str(data),
            "--validate-version",
            "1.0",
            "--output-type",
            "unittest",
            "--output-destination",
            str(report),
        ],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    xml = report.read_text()
    head = xml.split("\n", 2)[1]
    assert 'failures="0"' in head and 'errors="0"' in head and 'skipped="0"' in head, xml[:3000]
    assert int(head.split('tests="')[1].split('"')[0]) >= 130, head
    console = subprocess.run(
        [str(venv / "bin" / "focus-validator"), "--data-file", str(data), "--validate-version", "1.0"],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Validation succeeded." in console.stdout, console.stdout + console.stderr
