"""FinOps flows: the daily report (table + chart artifacts) and the budget check (alerts at 80%/100%)."""

from typing import Annotated, Literal

from prefect import flow
from pydantic import Field

from tasks.finops import budget_alerts_task, cost_report


@flow(name="finops-report", log_prints=True, flow_run_name="finops-report by {by}, {days}d")
def finops_report(by: Literal["team", "project", "cost_center", "namespace", "module", "digest"] = "team",
                  days: Annotated[int, Field(ge=1)] = 30) -> list[dict]:
    rows = cost_report(by, days)
    for r in rows:
        print(r)
    return rows


@flow(name="budget-check", log_prints=True, flow_run_name="budget-check all teams")
def budget_check() -> list[dict]:
    alerts = budget_alerts_task()
    for a in alerts:
        print(f"budget alert: {a['team']} projected at {a['pct']}% (crossed {a['threshold']}%)")
    return alerts
