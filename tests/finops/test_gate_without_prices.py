"""The budget gate when Git holds no PriceSheet: with budgets in force it is a broken repo (an error
naming pricing.yaml, not a TypeError traceback); with no budget at all the release is not priced."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tasks.finops import _without_prices
from wasmops.errors import ConfigError


def test_budgets_without_prices_name_the_missing_file():
    s = SimpleNamespace(gitops_dir=Path("/ws/gitops"))
    with pytest.raises(ConfigError) as e:
        _without_prices(SimpleNamespace(budgets=[object()]), "edge/m", s)
    assert e.value.where == "/ws/gitops/pricing.yaml" and "PriceSheet" in str(e.value)


def test_no_prices_and_no_budgets_lets_the_release_through_and_says_so():
    gate = _without_prices(SimpleNamespace(budgets=[]), "edge/m", SimpleNamespace(gitops_dir=Path("/ws/gitops")))
    assert gate["outcome"] == "allowed" and "not priced" in gate["message"]
