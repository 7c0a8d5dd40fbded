from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import yaml
from finops_helpers import price_sheet

from wasmops.errors import SpecError
from wasmops.finops.prices import PriceBook, load_prices, price_for

REPO = Path(__file__).resolve().parents[2]


def test_the_repo_price_sheet_loads():
    book = load_prices(REPO / "deployments" / "pricing.yaml")
    assert book.currency == "USD"
    assert book.price_for("fuel-million", date(2026, 3, 1)) == (Decimal("0.0004"), "USD")
    assert book.price_for("memory-gib-hour", date(2026, 3, 1)) == (Decimal("0.0050"), "USD")


def test_newest_price_on_or_before_the_usage_date_applies():
    sheet = price_sheet(
        [
            {"unit": "fuel-million", "amount": "0.0005", "effectiveDate": "2026-03-01"},
            {"unit": "fuel-million", "amount": "0.0003", "effectiveDate": "2026-02-01"},
        ]
    )
    book = PriceBook.from_sheet(sheet)
    assert book.price_for("fuel-million", date(2026, 1, 31))[0] == Decimal("0.0004")
    assert book.price_for("fuel-million", date(2026, 2, 1))[0] == Decimal("0.0003")
    assert book.price_for("fuel-million", date(2026, 2, 28))[0] == Decimal("0.0003")
    assert book.price_for("fuel-million", datetime(2026, 3, 1, 0, 0, tzinfo=timezone.utc))[0] == Decimal("0.0005")
    assert price_for(sheet, "fuel-million", date(2027, 1, 1)) == (Decimal("0.0005"), "USD")
    days = np.array(["2026-01-15", "2026-02-15", "2026-03-15"], dtype="datetime64[D]")
    units, _ = book.units_at("fuel-million", days)
    assert units.tolist() == [400_000_000, 300_000_000, 500_000_000]  # × 10**12


def test_usage_before_any_price_is_an_error_naming_the_file():
    book = PriceBook.from_sheet(price_sheet(), source="deployments/pricing.yaml")
    with pytest.raises(SpecError, match=r"deployments/pricing.yaml: .*no fuel-million price in effect on 2025-12-31"):
        book.price_for("fuel-million", date(2025, 12, 31))


def test_mixed_currencies_are_an_error_naming_the_file(tmp_path):
    doc = yaml.safe_load((REPO / "deployments" / "pricing.yaml").read_text())
    doc["spec"]["prices"][1]["currency"] = "EUR"
    path = tmp_path / "pricing.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(SpecError) as err:
        load_prices(path)
    assert str(path) in str(err.value) and "mixed currencies EUR, USD" in str(err.value)


def test_too_many_decimal_places_and_duplicate_dates_are_rejected():
    with pytest.raises(SpecError, match="more than 12 decimal places"):
        PriceBook.from_sheet(
            price_sheet([{"unit": "fuel-million", "amount": "0.0000000000001", "effectiveDate": "2026-05-01"}])
        )
    with pytest.raises(SpecError, match="two fuel-million prices take effect on 2026-01-01"):
        PriceBook.from_sheet(price_sheet([{"unit": "fuel-million", "amount": "1", "effectiveDate": "2026-01-01"}]))
