"""Month-to-date cost per budget, the forecast to month end, and the budget line, as a PNG.

The figures are the ones ``budget_alerts`` judges: ``spend_to_date`` + the forecast for the rest of
the month against ``monthly_amount`` (:func:`budget_lines` builds them with the same functions).
One panel per budget (small multiples, the ``top`` by projected share of budget)::

    >>> import pandas as pd
    >>> line = BudgetLine("team a", pd.date_range("2026-01-01", periods=3, freq="D", tz="UTC"),
    ...                   [1.0, 2.5, 4.0], forecast=10.0, budget=12.0, month_end=pd.Timestamp("2026-02-01", tz="UTC"))
    >>> forecast_chart_png([line])[:4] == b"\\x89PNG"
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np
import pandas as pd

from ..pictures import small_multiples_png

MAX_POINTS = 500


@dataclass
class BudgetLine:
    name: str
    ts: object                 # timestamps of the cumulative spend
    cumulative: object         # month-to-date cumulative spend at each ts
    forecast: float            # rest of the month (added to the last cumulative value)
    budget: float | None       # monthly amount; None: no budget
    month_end: object = None   # where the forecast ends (default: last ts)
    currency: str = "USD"


def _num(v, field: str, name: str) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"BudgetLine {name!r}: field {field!r} must be a number, not {v!r}")
    if math.isnan(x):
        raise ValueError(f"BudgetLine {name!r}: field {field!r} is NaN")
    return x


def _check(b: BudgetLine):
    ts = pd.DatetimeIndex(pd.to_datetime(list(b.ts), utc=True))
    y = np.asarray(list(b.cumulative), dtype=float)
    if len(ts) != len(y):
        raise ValueError(f"BudgetLine {b.name!r}: field 'cumulative' has {len(y)} values but 'ts' has {len(ts)}")
    fc = _num(b.forecast, "forecast", b.name)
    budget = None if b.budget is None else _num(b.budget, "budget", b.name)
    if budget is not None and budget <= 0:
        raise ValueError(f"BudgetLine {b.name!r}: field 'budget' must be > 0, not {budget}")
    if len(ts) > MAX_POINTS:  # cumulative spend is monotone: keep evenly spaced rows and the last
        keep = np.unique(np.r_[np.linspace(0, len(ts) - 1, MAX_POINTS - 1).astype(int), len(ts) - 1])
        ts, y = ts[keep], y[keep]
    return ts, y, fc, budget


def _draw(ax, b: BudgetLine) -> None:
    ts, y, fc, budget = _check(b)
    ok = np.isfinite(y)
    if ok.any():
        ax.plot(ts[ok], y[ok], lw=1.2, label="actual (month to date)")
        last_t, last_y = ts[ok][-1], y[ok][-1]
        end = pd.Timestamp(b.month_end) if b.month_end is not None else last_t
        end = end.tz_localize("UTC") if end.tzinfo is None else end
        ax.plot([last_t, max(end, last_t)], [last_y, last_y + fc], ls="--", lw=1.2,
                label=f"forecast → {last_y + fc:,.2f}")
    else:
        ax.text(0.5, 0.5, f"no spend yet; forecast {fc:,.2f}", ha="center", va="center", transform=ax.transAxes)
    if budget is not None:
        ax.axhline(budget, color="red", lw=1, label=f"budget {budget:,.2f}")
        ax.axhline(0.8 * budget, color="orange", lw=0.8, ls=":", label="80%")
    ax.set_title(b.name, fontsize="small")
    ax.set_ylabel(b.currency, fontsize="x-small")
    ax.tick_params(labelsize="x-small")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="x-small", loc="upper left")


def forecast_chart_png(lines: list[BudgetLine]) -> bytes:
    """One figure, one panel per budget (a grid of up to 2 columns). No lines: a figure saying so."""
    return small_multiples_png(lines, _draw, cols=2, panel=(4.2, 2.8), empty="no budget in force", left=0.1,
                               bottom_in=0.8, hspace=0.7, wspace=0.3)


def _cumulative(costs: pd.DataFrame, scope: str, name: str) -> tuple[pd.DatetimeIndex, list[float]]:
    if costs is None or costs.empty or scope not in costs.columns:
        return pd.DatetimeIndex([], tz="UTC"), []
    rows = costs[costs[scope] == name]
    if rows.empty:
        return pd.DatetimeIndex([], tz="UTC"), []
    hour = pd.to_datetime(rows["ts"], utc=True).dt.floor("h")
    s = rows.assign(c=rows["total_cost"].map(float)).groupby(hour)["c"].sum().sort_index().cumsum()
    return pd.DatetimeIndex(s.index), s.tolist()


def budget_lines(desired, costs: pd.DataFrame, forecast_by_team: dict[str, Decimal], now: datetime, *,
                 top: int = 6, forecast_by_project: dict[str, Decimal] | None = None) -> tuple[list[BudgetLine], list]:
    """The lines to chart (the ``top`` budgets by projected share) and every budget's Projection,
    computed as ``budget_alerts`` does (``spend_to_date`` + forecast, ``project_month``)."""
    from .budgets import _budgets, project_month, spend_to_date

    now = pd.Timestamp(now)
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    month_end = now.floor("D").replace(day=1) + pd.offsets.MonthBegin(1)
    projs = []
    for b in _budgets(desired):
        scope, name = b.spec.scope, b.spec.name
        table = forecast_by_team if scope == "team" else (forecast_by_project or forecast_by_team)
        p = project_month(name, scope, spend_to_date(costs, scope, name, now.to_pydatetime()),
                          Decimal((table or {}).get(name, 0)), budgets=[b])  # as budget_alerts
        projs.append(p)
    projs.sort(key=lambda p: (p.pct is not None, p.pct or 0), reverse=True)
    lines = []
    for p in projs[:top]:
        ts, cum = _cumulative(costs, p.scope, p.name)
        lines.append(BudgetLine(f"{p.scope} {p.name}: {p.pct}%", ts, cum, float(p.forecast),
                                float(p.budget) if p.budget is not None else None, month_end, p.currency))
    return lines, projs


def forecast_markdown(lines: list[BudgetLine], projections: list, png: bytes) -> str:
    """The ``budget-forecast`` artifact: the chart as a data-URI PNG, every budget's figures as text."""
    from ..pictures import markdown_image

    out = [f"## Month-to-date cost and forecast vs budget ({len(lines)} of {len(projections)} budget(s) charted)",
           "", markdown_image(png, "budget forecast"), ""]
    for p in projections:
        out.append(f"- {p.scope} `{p.name}`: spent {p.spend_to_date:.2f} + forecast {p.forecast:.2f} = "
                   f"{p.projected:.2f} of {p.budget} {p.currency} ({p.pct}%)")
    return "\n".join(out)


def budget_forecast_markdown(desired, costs: pd.DataFrame, forecast_by_team: dict[str, Decimal], now: datetime, *,
                             forecast_by_project: dict[str, Decimal] | None = None) -> str:
    """What ``tasks.finops.budget_alerts_task`` publishes as the ``budget-forecast`` artifact."""
    lines, projections = budget_lines(desired, costs, forecast_by_team, now, forecast_by_project=forecast_by_project)
    return forecast_markdown(lines, projections, forecast_chart_png(lines))


__all__ = ["BudgetLine", "budget_forecast_markdown", "budget_lines", "forecast_chart_png", "forecast_markdown"]
