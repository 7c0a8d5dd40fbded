"""Budgets: month-end projections, the deployment cost gate, and threshold alerts.

A month's projection for a team or project is ``spend_to_date + forecast_rest_of_month +
new_reserved`` (all in the PriceSheet's currency), compared with the ``Budget`` of that scope and
name. The gate adds the memory a deployment would newly reserve until the end of the month::

    new_reserved = (replicas × memory − what the current manifest of the same key reserves, ≥ 0)
                   × hours left in the month × price(memory-gib-hour)

A strict budget that would be exceeded blocks the deployment; an advisory one asks a person
(``needs_approval``, with a markdown table for the approval form); no budget allows it::

    >>> from datetime import datetime, timezone
    >>> from decimal import Decimal
    >>> from wasmops.finops import BudgetGate
    >>> from wasmops.gitops.desired import load_desired_state
    >>> from wasmops.telemetry.schema import empty
    >>> desired = load_desired_state("deployments")       # budgets: team core 250 USD strict
    >>> manifest, now = desired.deployments["prod/greet-c"], datetime(2026, 3, 10, tzinfo=timezone.utc)
    >>> gate = BudgetGate(desired)                        # the PriceSheet of the desired state
    >>> gate.check(manifest, desired, empty(), {"core": Decimal("40")}, now).outcome
    'allowed'
    >>> v = gate.check(manifest, desired, empty(), {"core": Decimal("300")}, now)
    >>> print(v.outcome); print(v.message)
    blocked
    prod/greet-c: blocked by the strict budget of team core
      team core: spent 0.00 + forecast 300.00 + new reservation 0.00 = 300.00 USD of a 250.00 USD strict budget (120.0%)
      new reservation: 2 × 32Mi (0 MiB newly reserved) × 528.0 h left × 0.0050/GiB-h = 0.0000 USD
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

import pandas as pd

from ..errors import SpecError
from wasmops.gitops.manifest import Budget, WasmModuleDeployment
from .attribution import month_bounds, totals
from .money import HOUR_S, PER_GIB_HOUR, money, to_decimal
from .prices import as_pricebook

Outcome = Literal["allowed", "blocked", "needs_approval"]
_RANK = {"allowed": 0, "needs_approval": 1, "blocked": 2}
PCT = Decimal("0.1")


@dataclass(frozen=True)
class Projection:
    """The month-end projection of one team or project against its budget (if any)."""

    scope: str
    name: str
    spend_to_date: Decimal
    forecast: Decimal
    new_reserved: Decimal
    projected: Decimal
    budget: Decimal | None
    pct: Decimal | None          # projected / budget × 100, one decimal
    over: bool
    level: str | None            # strict | advisory | None (no budget)
    currency: str = "USD"
    forecast_basis: str = ""     # how the forecast was made (the cost model, or reservations × hours left)

    def as_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(self).items()}


@dataclass
class GateVerdict:
    """``message``: plain text, or the markdown table when a person must approve (``needs_approval``)."""

    outcome: Outcome
    figures: list[Projection] = field(default_factory=list)
    message: str = ""
    markdown: str = ""
    key: str = ""

    @property
    def allowed(self) -> bool:
        return self.outcome == "allowed"

    def to_decision(self, *, actor: str = "wasmops", digest: str | None = None):
        """A ``budget`` decision record for the audit trail (:func:`wasmops.gitops.decisions.record`)."""
        from wasmops.gitops.decisions import Decision

        action = {"allowed": "deploy", "blocked": "deployment blocked",
                  "needs_approval": "approval requested"}[self.outcome]
        return Decision(kind="budget", subject=self.key, verdict=self.outcome, actor=actor, policy_rule="budget",
                        action=action, explanation=self.message, digest=digest,
                        data={"figures": [p.as_dict() for p in self.figures]})


@dataclass(frozen=True)
class Alert:
    """A budget crossed ``threshold_crossed`` percent (the highest crossed). ``team`` is the budget's
    name (a project name when ``scope`` is project)."""

    team: str
    pct: Decimal
    threshold_crossed: int
    scope: str = "team"
    spend_to_date: Decimal = Decimal(0)
    forecast: Decimal = Decimal(0)
    budget: Decimal = Decimal(0)
    level: str = "advisory"
    currency: str = "USD"
    forecast_basis: str = ""

    @property
    def message(self) -> str:
        basis = f" ({self.forecast_basis})" if self.forecast_basis else ""
        return (f"{self.scope} {self.team} is projected at {self.pct}% of its {money(self.budget)} {self.currency} "
                f"budget (spent {money(self.spend_to_date)} + forecast {money(self.forecast)}{basis}): "
                f"crossed {self.threshold_crossed}%")


def _budgets(source) -> list[Budget]:
    if source is None:
        return []
    if hasattr(source, "budgets"):
        return list(source.budgets)
    return list(source)


def find_budget(budgets, scope: str, name: str) -> Budget | None:
    """The budget of a team or project; when several cover it, the strictest (strict before advisory,
    then the smallest amount): a second, stricter file was silently ignored behind the first."""
    found = [b for b in _budgets(budgets) if b.spec.scope == scope and b.spec.name == name]
    return min(found, key=lambda b: (b.spec.enforcement_level != "strict", b.spec.monthly_amount), default=None)


def project_month(team_or_project: str, scope: str, spend_to_date: Decimal, forecast_rest_of_month: Decimal,
                  new_reserved: Decimal = Decimal(0), *, budgets=None, currency: str | None = None,
                  forecast_basis: str = "") -> Projection:
    """The projection for one team or project. ``budgets``: a DesiredState or a list of Budget."""
    if scope not in ("team", "project"):
        raise ValueError(f"scope must be team or project, not {scope!r}")
    spend, fc, new = Decimal(spend_to_date), Decimal(forecast_rest_of_month), Decimal(new_reserved)
    projected = spend + fc + new
    found = [b for b in _budgets(budgets) if b.spec.scope == scope and b.spec.name == team_or_project]
    if not found:
        return Projection(scope, team_or_project, spend, fc, new, projected, None, None, False, None,
                          currency or "USD", forecast_basis)
    out = []
    for b in found:
        if currency and b.spec.currency != currency:
            raise SpecError(f"spec.currency: budget {scope} {team_or_project} is in {b.spec.currency} but prices "
                            f"are in {currency}", where=b.source)
        amount = Decimal(b.spec.monthly_amount)
        pct = (projected * 100 / amount).quantize(PCT, rounding=ROUND_HALF_UP)
        out.append(Projection(scope, team_or_project, spend, fc, new, projected, amount, pct, projected > amount,
                              b.spec.enforcement_level, b.spec.currency, forecast_basis))
    # every budget that covers it counts: the worst outcome wins (a strict one exceeded, then an advisory
    # one exceeded, then the one closest to its amount). A strict 20.00 beside an exceeded advisory
    # 0.000001 let a release through without the approval the advisory one asks for.
    return max(out, key=lambda p: (p.over and p.level == "strict", p.over, p.pct))


def _as_utc(now: datetime) -> datetime:
    return now.astimezone(timezone.utc) if now.tzinfo else now.replace(tzinfo=timezone.utc)


def spend_to_date(costs: pd.DataFrame, scope: str, name: str, now: datetime) -> Decimal:
    """Exact spend of ``scope``=``name`` this month up to ``now`` (by the samples' own labels)."""
    if costs is None or not len(costs):
        return Decimal(0)
    first, _ = month_bounds(now)
    rows = costs[costs[scope] == name]
    return totals(rows, since=first, until=_as_utc(now))["total_cost"]


def reserved_until_month_end(bytes_reserved: int, now: datetime, prices) -> Decimal:
    """The cost of reserving ``bytes_reserved`` (all replicas) from ``now`` to the end of the month."""
    book = as_pricebook(prices)
    now = _as_utc(now)
    _, nxt = month_bounds(now)
    seconds = max(0, int((nxt - now).total_seconds()))
    entry = book.entry_for("memory-gib-hour", now)
    return to_decimal(max(0, bytes_reserved) * seconds * entry.units * PER_GIB_HOUR)


class BudgetGate:
    """Decides whether a deployment fits the budgets of its team and project."""

    def __init__(self, prices):
        self.book = as_pricebook(prices)

    def check(self, manifest: WasmModuleDeployment, desired_state, costs_this_month: pd.DataFrame,
              forecast_by_team: dict[str, Decimal], now: datetime, *,
              forecast_by_project: dict[str, Decimal] | None = None,
              forecast_basis: dict[tuple[str, str], str] | None = None) -> GateVerdict:
        """``forecast_by_team``: forecast spend for the rest of the month per team (a project budget
        looks its name up in ``forecast_by_project``, else in the same dict; missing means 0).
        ``forecast_basis``: ``(scope, name) -> how that forecast was made``, said in the message
        (:func:`wasmops.finops.reservations.forecast_with_fallback` gives all three)."""
        now = _as_utc(now)
        labels = manifest.metadata.labels
        current = (desired_state.deployments.get(manifest.key) if desired_state is not None else None)
        new_bytes = manifest.spec.replicas * manifest.memory_bytes
        old_bytes = current.spec.replicas * current.memory_bytes if current is not None else 0
        delta = max(0, new_bytes - old_bytes)
        new_reserved = reserved_until_month_end(delta, now, self.book)
        _, nxt = month_bounds(now)
        hours_left = Decimal(max(0, int((nxt - now).total_seconds()))) / HOUR_S
        memory_price, _ = self.book.price_for("memory-gib-hour", now)
        figures: list[Projection] = []
        for scope in ("team", "project"):
            name = labels.get(scope)
            if not name or find_budget(desired_state, scope, name) is None:
                continue
            table = forecast_by_team if scope == "team" else (forecast_by_project or forecast_by_team)
            fc = Decimal((table or {}).get(name, 0))
            spent = spend_to_date(costs_this_month, scope, name, now)
            figures.append(project_month(name, scope, spent, fc, new_reserved, budgets=desired_state,
                                         currency=self.book.currency,
                                         forecast_basis=(forecast_basis or {}).get((scope, name), "")))
        outcome: Outcome = "allowed"
        for p in figures:
            o = ("blocked" if p.level == "strict" else "needs_approval") if p.over else "allowed"
            outcome = o if _RANK[o] > _RANK[outcome] else outcome
        reservation = (f"{manifest.spec.replicas} × {manifest.spec.runtime_config.resources.memory} "
                       f"({_mib(delta)} MiB newly reserved) × {hours_left.quantize(PCT)} h left × "
                       f"{memory_price}/GiB-h = {money(new_reserved, 4)} {self.book.currency}")
        md = _markdown(manifest.key, outcome, figures, reservation, self.book.currency)
        text = md if outcome == "needs_approval" else _message(manifest.key, outcome, figures, reservation,
                                                                self.book.currency)
        return GateVerdict(outcome, figures, text, md, manifest.key)


def _mib(n: int) -> str:
    return format((Decimal(n) / (1 << 20)).normalize(), "f") if n else "0"


def _places(p: Projection) -> int:
    """Cents, unless a figure is below a cent: then as many places as show it (0.00 of 0.00 at 26,921 %)."""
    from wasmops.finops.report_table import money_places

    figures = (p.spend_to_date, p.forecast, p.new_reserved, p.projected, p.budget)
    return 2 if all(v is None or v == 0 or abs(v) >= Decimal("0.01") for v in figures) else money_places(figures)


def _line(p: Projection, cur: str) -> str:
    places = _places(p)
    m = lambda v: money(v, places)  # noqa: E731
    basis = f" ({p.forecast_basis})" if p.forecast_basis else ""
    return (f"{p.scope} {p.name}: spent {m(p.spend_to_date)} + forecast {m(p.forecast)}{basis} + new reservation "
            f"{m(p.new_reserved)} = {m(p.projected)} {cur} of a {m(p.budget)} {cur} {p.level} budget "
            f"({p.pct}%)")


def _message(key: str, outcome: Outcome, figures: list[Projection], reservation: str, cur: str) -> str:
    if not figures:
        return f"{key}: allowed, no budget covers its team or project"
    over = [p for p in figures if p.over]
    if outcome == "blocked":
        head = f"{key}: blocked by the strict budget of " + ", ".join(
            f"{p.scope} {p.name}" for p in over if p.level == "strict")
    elif outcome == "needs_approval":
        head = f"{key}: needs approval, the advisory budget of " + ", ".join(
            f"{p.scope} {p.name}" for p in over) + " would be exceeded"
    else:
        head = f"{key}: allowed, within budget"
    return "\n".join([head, *("  " + _line(p, cur) for p in figures), f"  new reservation: {reservation}"])


def _markdown(key: str, outcome: Outcome, figures: list[Projection], reservation: str, cur: str) -> str:
    if not figures:
        return f"**{key}**: no budget covers its team or project."
    over = ", ".join(f"{p.scope} `{p.name}` ({p.level})" for p in figures if p.over)
    verdict = {"allowed": "within budget.", "blocked": f"the strict budget of {over} would be exceeded: blocked.",
               "needs_approval": f"the budget of {over} would be exceeded: approve to deploy anyway."}[outcome]
    lines = [f"### Budget check for `{key}`: {outcome.replace('_', ' ')}", "", f"Projected month: {verdict}", "",
             "| budget | level | spent so far | forecast rest of month | new reservation | projected | budget "
             "| % |", "|---|---|--:|--:|--:|--:|--:|--:|"]
    for p in figures:
        flag, places = (" ⚠" if p.over else ""), _places(p)   # the gate line's decimals: 0.00 of 0.00 told nothing
        m = lambda v: money(v, places)  # noqa: E731
        lines.append(f"| {p.scope} `{p.name}` | {p.level} | {m(p.spend_to_date)} | {m(p.forecast)} | "
                     f"{m(p.new_reserved)} | **{m(p.projected)}** | {m(p.budget)} | {p.pct}%{flag} |")
    lines += ["", f"Amounts in {cur}. New reservation: {reservation}."]
    lines += [f"Forecast for {p.scope} `{p.name}`: {p.forecast_basis}." for p in figures if p.forecast_basis]
    return "\n".join(lines)


def budget_alerts(desired, costs_this_month: pd.DataFrame, forecast_by_team: dict[str, Decimal],
                  now: datetime, *, forecast_by_project: dict[str, Decimal] | None = None,
                  prices=None, forecast_basis: dict[tuple[str, str], str] | None = None) -> list[Alert]:
    """One alert per budget whose projected month (spend to date + forecast) crossed one of its
    ``alertThresholds`` (default 80 and 100 percent); the highest crossed threshold is reported."""
    now = _as_utc(now)
    currency = as_pricebook(prices).currency if prices is not None else (
        as_pricebook(desired).currency if getattr(desired, "pricing", None) is not None else None)
    alerts = []
    for b in _budgets(desired):
        scope, name = b.spec.scope, b.spec.name
        table = forecast_by_team if scope == "team" else (forecast_by_project or forecast_by_team)
        p = project_month(name, scope, spend_to_date(costs_this_month, scope, name, now),
                          Decimal((table or {}).get(name, 0)), budgets=[b], currency=currency,
                          forecast_basis=(forecast_basis or {}).get((scope, name), ""))
        crossed = [t for t in sorted(b.spec.alert_thresholds) if p.projected * 100 >= t * p.budget]  # exact
        if crossed:
            alerts.append(Alert(name, p.pct, crossed[-1], scope, p.spend_to_date, p.forecast, p.budget,
                                b.spec.enforcement_level, b.spec.currency, p.forecast_basis))
    return alerts


__all__ = ["Alert", "BudgetGate", "GateVerdict", "Projection", "budget_alerts", "find_budget", "project_month",
           "reserved_until_month_end", "spend_to_date"]
