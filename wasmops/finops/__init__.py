"""FinOps for wasmops: prices, cost attribution, budgets and the deployment gate, waste, FOCUS export.

Core library: no Prefect. The pieces, in the order money flows through them::

    prices.py       PriceSheet → PriceBook.price_for(unit, day)  (newest price effective on or before the day)
    attribution.py  telemetry samples → cost rows (exact Decimal), report(), cost_over_time(), chart_png()
    budgets.py      project_month(), BudgetGate.check() for a deployment, budget_alerts()
    waste.py        recommend() idle / memory / fuel rightsizing, apply_recommendations() on a git branch
    focus.py        to_focus() FOCUS 1.0 rows, write_focus() CSV / Parquet

Example::

    >>> from wasmops.finops import attribute, load_prices, report
    >>> import pandas as pd
    >>> GiB = 2**30
    >>> samples = pd.DataFrame({      # two hours of telemetry, as wasmops.telemetry stores them
    ...     "ts": pd.to_datetime(["2026-03-02T01:00Z", "2026-03-02T01:00Z"]), "window_s": [3600, 3600],
    ...     "namespace": ["prod", "dev"], "module": ["greet-c", "sum-wat"], "digest": ["sha256:aa", "sha256:bb"],
    ...     "team": ["core", "data"], "project": ["greeter", "analytics"], "cost_center": ["cc-100", "cc-200"],
    ...     "replicas": [2, 1], "fuel": [2_000_000, 500_000], "invocations": [1000, 0],
    ...     "memory_limit": [GiB, GiB], "peak_memory": [GiB // 2, 0]})
    >>> costs = attribute(samples, load_prices("deployments/pricing.yaml"))
    >>> print(report(costs, by="team")[["total_cost", "idle_share"]].to_string())  # doctest: +NORMALIZE_WHITESPACE
              total_cost idle_share
    team
    core  0.011000000000     0.5000
    data  0.005200000000     1.0000
"""

from .attribution import attribute, chart_png, cost_over_time, report, storage_costs, totals
from .budgets import Alert, BudgetGate, GateVerdict, Projection, budget_alerts, project_month
from .focus import FOCUS_COLUMNS, read_focus, to_focus, write_focus
from .prices import PriceBook, as_pricebook, load_prices, price_for
from .waste import Recommendation, apply_recommendations, recommend

__all__ = [
    "Alert", "BudgetGate", "FOCUS_COLUMNS", "GateVerdict", "PriceBook", "Projection", "Recommendation",
    "apply_recommendations", "as_pricebook", "attribute", "budget_alerts", "chart_png", "cost_over_time",
    "load_prices", "price_for", "project_month", "read_focus", "recommend", "report", "storage_costs",
    "to_focus", "totals", "write_focus",
]
