"""The budget gate when Git holds no PriceSheet: with budgets in force it is a broken repo (an error
naming pricing.yaml, not a TypeError traceback); with no budget at all the release is not priced."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings, strategies as st

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


@pytest.mark.parametrize("rel, edit, field", [
    ("budgets/team-core.yaml", lambda t: t.replace('monthlyAmount: "250.00"', 'monthlyAmount: "0"'), "spec.monthlyAmount"),
    ("budgets/team-core.yaml", lambda t: t.replace('  monthlyAmount: "250.00"\n', ""), "spec.monthlyAmount"),
    ("pricing.yaml", lambda t: t.replace("{unit: memory-gib-hour, ", "{"), "spec.prices.1.unit"),
])
def test_a_broken_budget_or_price_file_fails_the_gate_closed_naming_file_and_field(tmp_path, rel, edit, field):
    """A finance person's edits: a budget of 0 or with no amount counted as no budget (the release went
    through), and a price line without its unit ended in a TypeError traceback."""
    from tasks.finops import refuse_broken_money_files
    from wasmops.config import Settings
    from wasmops.errors import SpecError
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.workspace import init_workspace

    s = Settings(home=tmp_path / "ws")
    init_workspace(s)
    repo = GitOpsRepo.from_settings(s)
    path = repo.path / rel
    path.write_text(edit(path.read_text()))
    repo.repo.index.add([rel])
    repo.repo.index.commit("a finance edit")
    with pytest.raises(SpecError) as e:
        refuse_broken_money_files(repo.desired())
    assert e.value.where == rel and f"{rel}: {field}" in str(e.value), str(e.value)


def test_two_budgets_for_one_team_the_strictest_applies():
    from wasmops.finops.budgets import find_budget
    from wasmops.gitops.manifest import Budget

    def b(amount, level):
        return Budget.model_validate({"spec": {"scope": "team", "name": "finance", "monthlyAmount": amount,
                                               "enforcementLevel": level}})
    loose, strict_big, strict_small = b("1000", "advisory"), b("50", "strict"), b("0.01", "strict")
    assert find_budget([loose, strict_big, strict_small], "team", "finance") is strict_small
    assert find_budget([loose], "team", "finance") is loose and find_budget([loose], "team", "x") is None


def test_a_budget_error_names_its_file_not_its_metadata_name(tmp_path):
    """`budgets/finance-eur: spec.currency …` named no file that exists (the file was team-finance.yaml)."""
    from decimal import Decimal

    from wasmops.config import Settings
    from wasmops.errors import SpecError
    from wasmops.finops.budgets import project_month
    from wasmops.gitops.manifest import Budget
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.workspace import init_workspace

    s = Settings(home=tmp_path / "ws")
    init_workspace(s)
    repo = GitOpsRepo.from_settings(s)
    (repo.path / "budgets" / "team-finance.yaml").write_text(
        "apiVersion: wasmops.dev/v1alpha1\nkind: Budget\nmetadata: {name: finance-eur}\n"
        "spec: {scope: team, name: finance, monthlyAmount: '10', currency: EUR, enforcementLevel: strict}\n")
    repo.repo.index.add(["budgets/team-finance.yaml"])
    repo.repo.index.commit("a budget in euros")
    (err,) = [e for e in repo.desired().errors if e.kind == "Budget"]     # a broken file from the load on
    assert err.file == "budgets/team-finance.yaml" and err.message.startswith("spec.currency:"), str(err)
    budget = Budget.model_validate({"spec": {"scope": "team", "name": "finance", "monthlyAmount": "10",
                                             "currency": "EUR"}})
    budget._source = "budgets/team-finance.yaml"
    with pytest.raises(SpecError) as e:
        project_month("finance", "team", Decimal(1), Decimal(0), budgets=[budget], currency="USD")
    assert e.value.where == "budgets/team-finance.yaml", str(e.value)


@settings(max_examples=60, deadline=None)
@given(budgets=st.lists(st.tuples(st.decimals(min_value="0.000001", max_value="1000", places=6),
                                  st.sampled_from(["strict", "advisory"])), min_size=1, max_size=4),
       spent=st.decimals(min_value="0", max_value="2000", places=6))
def test_every_budget_of_a_team_counts_and_the_worst_outcome_wins(budgets, spent):
    """Found from outside: a strict 20.00 beside an exceeded advisory 0.000001 let a release through
    without the approval the advisory one asks for (only the 'strictest' file was looked at)."""
    from decimal import Decimal

    from wasmops.finops.budgets import project_month
    from wasmops.gitops.manifest import Budget

    bs = [Budget.model_validate({"spec": {"scope": "team", "name": "fin", "monthlyAmount": str(a),
                                          "enforcementLevel": lvl}}) for a, lvl in budgets]
    p = project_month("fin", "team", Decimal(spent), Decimal(0), budgets=bs)
    over = [(lvl, Decimal(spent) > a) for a, lvl in budgets]
    if ("strict", True) in over:
        assert p.over and p.level == "strict"
    elif ("advisory", True) in over:
        assert p.over and p.level == "advisory"
    else:
        assert not p.over and p.pct == max(Decimal(spent) * 100 / a for a, _ in budgets).quantize(Decimal("0.1"),
                                                                                                   rounding="ROUND_HALF_UP")


def test_the_gate_line_shows_sub_cent_figures():
    from decimal import Decimal

    from wasmops.finops.budgets import _line, project_month
    from wasmops.gitops.manifest import Budget

    b = Budget.model_validate({"spec": {"scope": "team", "name": "fin", "monthlyAmount": "0.000001",
                                        "enforcementLevel": "strict"}})
    line = _line(project_month("fin", "team", Decimal("0.000269216"), Decimal(0), budgets=[b]), "USD")
    assert "spent 0.00026922 " in line and "of a 0.00000100 USD strict budget" in line, line   # 3 digits of the smallest
    big = Budget.model_validate({"spec": {"scope": "team", "name": "fin", "monthlyAmount": "250",
                                          "enforcementLevel": "strict"}})
    assert "spent 12.35 + " in _line(project_month("fin", "team", Decimal("12.345"), Decimal(0), budgets=[big]), "USD")
