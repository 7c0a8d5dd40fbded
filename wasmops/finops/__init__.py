"""FinOps for wasmops: prices, cost attribution, budgets and the deployment gate, waste, FOCUS export.

Core library: no Prefect. The pieces, in the order money flows through them::

    prices.py       PriceSheet → PriceBook.price_for(unit, day)  (newest price effective on or before the day)
    attribution.py  telemetry samples → cost rows (exact Decimal), report(), cost_over_time(), chart_png()
    budgets.py      project_month(), BudgetGate.check() for a deployment, budget_alerts()
    waste.py        recommend() idle / memory / fuel rightsizing, apply_recommendations() on a git branch
    focus.py        to_focus() FOCUS 1.0 rows, write_focus() CSV / Parquet

A worked example (two hours of telemetry priced, reported by team) is in :mod:`wasmops.finops.attribution`;
the same costs as a FOCUS export in :mod:`wasmops.finops.focus`.
"""

from .attribution import attribute, chart_png, cost_over_time, in_period, report, storage_costs, totals
from .budgets import Alert, BudgetGate, GateVerdict, Projection, budget_alerts, project_month
from .focus import FOCUS_COLUMNS, read_focus, to_focus, write_focus
from .prices import PriceBook, as_pricebook, load_prices, price_for
from .waste import Recommendation, apply_recommendations, recommend

__all__ = [
    "Alert", "BudgetGate", "FOCUS_COLUMNS", "GateVerdict", "PriceBook", "Projection", "Recommendation",
    "apply_recommendations", "as_pricebook", "attribute", "budget_alerts", "chart_png", "cost_over_time", "in_period",
    "load_prices", "price_for", "project_month", "read_focus", "recommend", "report", "storage_costs",
    "to_focus", "totals", "write_focus",
]
