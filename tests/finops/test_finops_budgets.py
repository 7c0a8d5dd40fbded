from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from finops_helpers import budget, deployment, desired, frame, price_sheet, sample

from wasmops.finops.attribution import attribute
from wasmops.finops.prices import PriceBook
from wasmops.finops.budgets import BudgetGate, budget_alerts, project_month, reserved_until_month_end

D = Decimal
NOW = datetime(2026, 3, 16, tzinfo=timezone.utc)  # 16 days = 384 h left in March
BUDGETS = [
    budget("team", "core", "250.00", "strict"),
    budget("team", "data", "120.00", "advisory"),
    budget("team", "web", "1000", "strict"),
]


@pytest.fixture
def costs(book):
    # fuel only (memory_limit 0) so spend is round: 5e11 fuel = 200.00, 2.5e11 = 100.00
    rows = [
        sample("2026-03-10T01:00:00Z", team="core", fuel=500_000_000_000, memory_limit=0),
        sample("2026-03-10T01:00:00Z", team="data", module="etl", fuel=250_000_000_000, memory_limit=0),
        sample("2026-02-27T01:00:00Z", team="core", fuel=10**15, memory_limit=0),  # last month
        sample("2026-03-20T01:00:00Z", team="core", fuel=10**15, memory_limit=0),
    ]  # after now
    return attribute(frame(rows), book)


def test_project_month():
    p = project_month("core", "team", D("200"), D("40"), D("19.20"), budgets=BUDGETS)
    assert (p.projected, p.budget, p.pct, p.over, p.level) == (D("259.20"), D("250.00"), D("103.7"), True, "strict")
    p = project_month("nobody", "team", D("1"), D("2"), budgets=BUDGETS)
    assert (p.budget, p.pct, p.over, p.level) == (None, None, False, None)


def test_reservation_until_month_end(book):
    # 10 GiB × 384 h × 0.005
    assert reserved_until_month_end(10 * 2**30, NOW, book) == D("19.20")


def test_strict_budget_blocks_with_the_figures(book, costs):
    gate = BudgetGate(book)
    big = deployment("big", team="core", replicas=10, memory="1Gi")
    v = gate.check(big, desired(BUDGETS), costs, {"core": D("40")}, NOW)
    assert v.outcome == "blocked" and not v.allowed
    (p,) = v.figures
    assert (p.spend_to_date, p.forecast, p.new_reserved, p.projected) == (D("200"), D("40"), D("19.20"), D("259.20"))
    for text in (
        "blocked",
        "strict",
        "team core",
        "200.00",
        "40.00",
        "19.20",
        "259.20",
        "250.00",
        "103.7%",
        "10 × 1Gi",
        "384.0 h",
    ):
        assert text in v.message, text
    d = v.to_decision(digest="sha256:" + "b" * 64)
    assert (d.kind, d.subject, d.verdict) == ("budget", "dev/big", "blocked")
    assert D(d.data["figures"][0]["projected"]) == D("259.20")


def test_advisory_budget_needs_approval_with_a_markdown_table(book, costs):
    etl = deployment("etl2", team="data", replicas=10, memory="1Gi")
    v = BudgetGate(book).check(etl, desired(BUDGETS), costs, {"data": D("10")}, NOW)
    assert v.outcome == "needs_approval"
    assert v.message == v.markdown
    assert "| team `data` | advisory | 100.00 | 10.00 | 19.20 | **129.20** | 120.00 | 107.7% ⚠ |" in v.message
    assert "approve to deploy anyway" in v.message


def test_no_budget_allows(book, costs):
    v = BudgetGate(book).check(deployment("x", team="ml", project="lab"), desired(BUDGETS), costs, {}, NOW)
    assert v.outcome == "allowed" and v.figures == [] and "no budget" in v.message


def test_within_budget_and_updates_only_pay_for_new_memory(book, costs):
    big = deployment("big", team="core", replicas=10, memory="1Gi")
    ds = desired(BUDGETS, [big])  # already deployed at this size
    v = BudgetGate(book).check(big, ds, costs, {"core": D("40")}, NOW)
    assert v.outcome == "allowed" and v.figures[0].new_reserved == 0 and v.figures[0].projected == D("240")
    bigger = deployment("big", team="core", replicas=11, memory="1Gi")
    v = BudgetGate(book).check(bigger, ds, costs, {"core": D("40")}, NOW)
    assert v.figures[0].new_reserved == D("1.92")  # one more GiB replica


def test_project_budgets_count_too_and_the_worst_outcome_wins(book, costs):
    ds = desired(BUDGETS + [budget("project", "hello", "5000", "advisory")])
    v = BudgetGate(book).check(
        deployment("big", team="core", replicas=10, memory="1Gi"), ds, costs, {"core": D("40")}, NOW
    )
    assert [(p.scope, p.name, p.over) for p in v.figures] == [("team", "core", True), ("project", "hello", False)]
    assert v.outcome == "blocked"


def test_alerts_at_80_and_100_percent(costs):
    alerts = budget_alerts(desired(BUDGETS), costs, {"core": D("0"), "data": D("25")}, NOW)
    got = {a.team: (a.threshold_crossed, a.pct) for a in alerts}
    assert got == {"core": (80, D("80.0")), "data": (100, D("104.2"))}  # web: 0% → none
    core = next(a for a in alerts if a.team == "core")
    assert "80.0%" in core.message and "250.00" in core.message
    assert budget_alerts(desired(BUDGETS), costs, {"core": D("49.99")}, NOW)[0].threshold_crossed == 80
    assert {a.team: a.threshold_crossed for a in budget_alerts(desired(BUDGETS), costs, {"core": D("50")}, NOW)}[
        "core"
    ] == 100


@settings(max_examples=40, deadline=None)
@given(budget_amount=st.decimals(min_value="0.000001", max_value="0.0099", places=6),
       over=st.decimals(min_value="1.01", max_value="5", places=2))
def test_the_approval_table_shows_sub_cent_figures_as_the_gate_line_does(budget_amount, over):
    """Found from outside: the approval form read `team ops advisory 0.00 0.00 0.00 0.00 0.00 112.1% ⚠`."""
    book = PriceBook.from_sheet(price_sheet())
    ops = [budget("team", "ops", str(budget_amount), "advisory")]
    spent = budget_amount * over                                             # 8 places at most: whole fuel units
    costs = attribute(frame([sample("2026-03-10T01:00:00Z", team="ops", fuel=int(spent * 10**10 / 4),
                                    memory_limit=0)]), book)
    v = BudgetGate(book).check(deployment("x", team="ops"), desired(ops, [deployment("x", team="ops")]), costs,
                               {}, NOW)
    assert v.outcome == "needs_approval"
    (row,) = [ln for ln in v.markdown.splitlines() if ln.startswith("| team `ops`")]
    cells = [c.strip(" *") for c in row.split("|")[3:8]]
    places = {len(c.split(".")[1]) for c in cells}
    assert len(places) == 1 and places.pop() >= 4, row                       # one scale, sub-cent visible
    q = D(1).scaleb(-len(cells[4].split(".")[1]))
    assert (D(cells[0]), D(cells[4])) == (spent.quantize(q, ROUND_HALF_UP), budget_amount.quantize(q, ROUND_HALF_UP)), row
