"""FinOps test fixtures; the builders live in finops_helpers.py."""

import pytest
from finops_helpers import price_sheet

from wasmops.finops.prices import PriceBook


@pytest.fixture
def book() -> PriceBook:
    return PriceBook.from_sheet(price_sheet(), source="pricing.yaml")
