"""The forecast for the rest of the month, and what it falls back to without a cost model.

The champion cost model forecasts each team's spend for the rest of the month. Without one (every
new workspace for its first 14 days of history), or for a team or project it has no forecast for, the
forecast is what the manifests reserve now, kept until the end of the month: the reserved memory
(replicas × memory) × hours left × price(memory-gib-hour). That is a floor, not a guess: reserved
memory is billed whether it is used or not. Each figure says how it was made (``basis``)::

    >>> from datetime import datetime, timezone
    >>> from wasmops.gitops.desired import load_desired_state
    >>> desired = load_desired_state("deployments")
    >>> fc = forecast_with_fallback({}, desired, datetime(2026, 12, 6, 22, tzinfo=timezone.utc), desired)
    >>> fc.of("team", "core")
    (Decimal('0.235156250000'), 'no forecast model: reservations × 602 h left')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal

from .attribution import month_bounds
from .money import HOUR_S

SCOPES = ("team", "project")


@dataclass(frozen=True)
class Forecast:
    """Rest-of-month forecast per team and per project, and how each figure was made."""

    team: dict[str, Decimal] = field(default_factory=dict)
    project: dict[str, Decimal] = field(default_factory=dict)
    basis: dict[tuple[str, str], str] = field(default_factory=dict)   # (scope, name) -> how

    def of(self, scope: str, name: str) -> tuple[Decimal, str]:
        table = self.team if scope == "team" else self.project
        return Decimal(table.get(name, 0)), self.basis.get((scope, name), "")


def hours_left(now: datetime) -> Decimal:
    """Hours from ``now`` to the first instant of the next month (UTC), whole seconds."""
    now = now.astimezone(timezone.utc) if now.tzinfo else now.replace(tzinfo=timezone.utc)
    _, nxt = month_bounds(now)
    return Decimal(max(0, int((nxt - now).total_seconds()))) / HOUR_S


def _hours_text(now: datetime) -> str:
    return format(hours_left(now).quantize(Decimal("0.1")).normalize(), "f")


def reserved_bytes(desired, scope: str) -> dict[str, int]:
    """Bytes reserved now (replicas × memory of every valid manifest) per ``scope`` label value."""
    out: dict[str, int] = {}
    for m in (getattr(desired, "deployments", None) or {}).values():
        name = m.metadata.labels.get(scope)
        if name:
            out[name] = out.get(name, 0) + m.spec.replicas * m.memory_bytes
    return out


def forecast_with_fallback(model_by_team: dict[str, Decimal] | None, desired, now: datetime, prices, *,
                           model: str = "") -> Forecast:
    """The model's forecast per team where it has one; every other team, and every project (the model
    forecasts teams only), gets its current reservations until the end of the month.
    ``model``: how to name the model in ``basis`` (e.g. ``wasmops-cost v3``); empty: no model."""
    from .budgets import reserved_until_month_end

    model_by_team = dict(model_by_team or {})
    why = ("not in the cost model's forecast" if model else "no forecast model") + \
        f": reservations × {_hours_text(now)} h left"
    tables: dict[str, dict[str, Decimal]] = {"team": {}, "project": {}}
    basis: dict[tuple[str, str], str] = {}
    for scope in SCOPES:
        for name, n in reserved_bytes(desired, scope).items():
            tables[scope][name] = reserved_until_month_end(n, now, prices)
            basis[(scope, name)] = why
    for team, v in model_by_team.items():
        tables["team"][team] = Decimal(v)
        basis[("team", team)] = f"cost model {model}".strip()
    return Forecast(tables["team"], tables["project"], basis)


__all__ = ["Forecast", "forecast_with_fallback", "hours_left", "reserved_bytes"]
