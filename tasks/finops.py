"""FinOps tasks: month-to-date costs, the cost forecast, the budget gate, alerts, reports."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from wasmops.config import current


def _month_costs(now: datetime, desired=None):
    import pandas as pd

    from wasmops.finops import attribute
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.telemetry import Store

    s = current()
    desired = desired or GitOpsRepo.from_settings(s).desired()  # committed state
    start = pd.Timestamp(now).tz_convert("UTC").floor("D").replace(day=1)
    store = Store.open(s)
    samples = store.without_synthetic(store.read(since=start - pd.Timedelta(days=35)))
    month = samples[samples["ts"] > start] if not samples.empty else samples
    costs = attribute(month, desired.pricing) if not month.empty else None
    return desired, samples, costs


def cached_forecast_by_team(samples, now: datetime, pricing) -> tuple[dict[str, Decimal], dict]:
    """``forecast_by_team`` through the workspace's forecast cache: the MLflow import, model load
    and forecast run once per hour, price sheet, telemetry watermark and champion."""
    import pandas as pd

    from wasmops.finops.forecast_cache import ForecastCache, forecast_key, model_stamp

    if samples is None or samples.empty:
        return {}, {}
    watermark = pd.Timestamp(samples["ts"].max()).floor("h").isoformat()
    key = forecast_key(pricing=pricing.model_dump_json() if pricing is not None else "",
                       watermark=watermark, hour=pd.Timestamp(now).floor("h").isoformat(),
                       # the store load_champion reads (models.registry.default_store), without importing sklearn
                       model=model_stamp(f"sqlite:///{current().paths.mlflow_db}"))
    cache = ForecastCache(current().paths.forecast_cache)
    hit = cache.get(key)
    if hit is not None:
        return hit
    per_team, info = forecast_by_team(samples, now)
    cache.put(key, per_team, info)
    return per_team, info


def forecast_by_team(samples, now: datetime) -> tuple[dict[str, Decimal], dict]:
    """The champion cost model's forecast for the rest of the month, per team (empty without a model)."""
    from models.mlflow_store import champion_absent

    if samples is None or samples.empty or champion_absent("cost"):
        return {}, {}
    from models.registry import load_champion

    try:
        model, info = load_champion("cost")
    except LookupError:
        return {}, {}
    try:
        fc = model.forecast_rest_of_month(samples, now)
    except (ValueError, KeyError):  # too little history for the lags
        return {}, info
    from models.forecast_champions import counts

    info = {**info, "forecast_by": counts(fc.per_module["forecast_by"])}   # which forecast served how many modules
    return {r.team: Decimal(str(round(r.forecast_cost, 6))) for r in fc.per_team.itertuples()}, info


def month_forecast(samples, now: datetime, desired):
    """``(Forecast, model info)``: the cost model's forecast per team where it has one; every other team,
    and every project, gets its reservations × hours left in the month. Without a model the forecast
    was ``{}``, so the gate counted 0 for the rest of the month of every new team."""
    from wasmops.finops.reservations import forecast_with_fallback

    per_team, info = cached_forecast_by_team(samples, now, desired.pricing)
    model = f"{info.get('name')} v{info.get('version')}" if per_team and info else ""
    return forecast_with_fallback(per_team, desired, now, desired.pricing, model=model), info


def refuse_broken_money_files(desired) -> None:
    """A broken budget or price sheet fails the gate closed, naming the file and field: a budget that
    failed validation used to count as no budget at all (the release went through), and a broken
    price sheet ended in a TypeError traceback."""
    from wasmops.errors import SpecError

    broken = [e for e in desired.errors if e.kind in ("Budget", "PriceSheet")]
    if broken:
        raise SpecError("the budget gate cannot decide while a budget or price file is broken: "
                        + "; ".join(str(e) for e in broken), where=broken[0].file,
                        hint="fix the file in Git and commit it; the release is not let through meanwhile")


def _warn_budget_files(desired, samples) -> list[str]:
    """Log, once per file, each broken budget file and each budget that names no team or project in use."""
    from wasmops.finops.budget_files import budget_file_notes

    notes = budget_file_notes(desired, [samples])
    for n in notes:
        get_run_logger().warning(n)
    return notes


@task(name="budget-gate", cache_policy=NO_CACHE)
def budget_gate(key: str, digest: str) -> dict:
    """Project the month (spend + forecast + the new reservation) against the team/project budget."""
    import pandas as pd

    from wasmops.gitops.decisions import record
    from wasmops.finops import BudgetGate

    from wasmops.gitops.repo import GitOpsRepo

    s = current()
    now = datetime.now(timezone.utc)
    desired = GitOpsRepo.from_settings(s).desired()
    refuse_broken_money_files(desired)
    desired, samples, costs = _month_costs(now, desired)
    _warn_budget_files(desired, samples)
    manifest = desired.deployments[key]
    if desired.pricing is None:
        gate = _without_prices(desired, key, s)
        get_run_logger().warning(gate["message"])
        return gate
    if not manifest.spec.module_ref.digest:
        # Never released: nothing of it is reserved yet, so its whole reservation is new.
        import copy

        desired = copy.copy(desired)
        desired.deployments = {k: v for k, v in desired.deployments.items() if k != key}
    fc, info = month_forecast(samples, now, desired)
    empty = pd.DataFrame(columns=["ts", "team", "project", "total_cost"])
    verdict = BudgetGate(desired.pricing).check(manifest, desired, costs if costs is not None else empty, fc.team, now,
                                                forecast_by_project=fc.project, forecast_basis=fc.basis)
    dec = verdict.to_decision(digest=digest)
    dec.model = {k: info.get(k) for k in ("name", "version", "alias", "forecast_by")} if info else {}
    record(s.gitops_dir, dec)
    create_markdown_artifact(key="cost-impact", description=f"Budget gate for {key}",
                             markdown=f"## Cost impact of `{key}`: **{verdict.outcome}**\n\n"
                                      f"{verdict.markdown or verdict.message or 'no budget applies'}\n\n"
                                      f"Forecast model: {dec.model or 'none (no champion yet): reservations × hours left'}")
    return {"outcome": verdict.outcome, "message": verdict.message, "markdown": verdict.markdown}


@task(name="cost-report", cache_policy=NO_CACHE)
def cost_report(by: str = "team", days: int = 30) -> list[dict]:
    import pandas as pd

    from wasmops.gitops.desired import load_desired_state
    from wasmops.finops import attribute, chart_png
    from wasmops.finops.report_table import report_rows
    from wasmops.pictures import markdown_image
    from wasmops.telemetry import Store

    s = current()
    desired = load_desired_state(s.gitops_dir, strict=False)   # a broken budget hides no team's costs
    refuse_broken_price_sheet(desired)
    store = Store.open(s)
    samples = store.without_synthetic(store.read(since=pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=days)))
    _warn_budget_files(desired, samples)
    if samples.empty:
        create_markdown_artifact(key="finops-report", markdown="No telemetry yet.")
        return []
    costs = attribute(samples, desired.pricing)
    rows = [{k: (format(v, "f") if isinstance(v, Decimal) else v) for k, v in r.items()}
            for r in report_rows(costs, by=by)]       # with a (total) row; small costs keep 3 digits
    create_table_artifact(key=f"cost-by-{by}", table=rows,
                          description=f"Cost by {by} in {costs.attrs.get('currency')}, last {days} days")
    png = s.paths.report(f"cost-{by}.png")
    png.parent.mkdir(parents=True, exist_ok=True)
    chart_png(costs, png, by="team" if by == "module" else by)
    create_markdown_artifact(key="finops-report", description="Cost over time",
                             markdown=f"## Cost over time per {by}\n\n{markdown_image(png.read_bytes(), 'cost')}\n\n"
                                      f"Chart file: `{png}`")
    return rows


@task(name="budget-alerts", cache_policy=NO_CACHE)
def budget_alerts_task() -> list[dict]:
    from prefect.events import emit_event

    import pandas as pd

    from wasmops.gitops.decisions import Decision, record
    from wasmops.finops import budget_alerts
    from wasmops.finops.forecast_chart import budget_forecast_markdown

    s = current()
    now = datetime.now(timezone.utc)
    desired, samples, costs = _month_costs(now)
    _warn_budget_files(desired, samples)
    fc, info = month_forecast(samples, now, desired)
    empty = pd.DataFrame(columns=["ts", "team", "project", "total_cost"])
    alerts = budget_alerts(desired, costs if costs is not None else empty, fc.team, now,
                           forecast_by_project=fc.project, forecast_basis=fc.basis)
    out = []
    for a in alerts:
        d = {"team": a.team, "pct": str(a.pct), "threshold": a.threshold_crossed}
        out.append(d)
        emit_event("wasmops.budget.exceeded", resource={"prefect.resource.id": f"wasmops.team.{a.team}"}, payload=d)
        record(s.gitops_dir, Decision(kind="budget", subject=a.team, verdict=f"crossed {a.threshold_crossed}%",
                                      policy_rule="budget alert thresholds", action="alert raised",
                                      explanation=f"projected {a.pct}% of the monthly budget "
                                                  f"(forecast: {a.forecast_basis or 'none'})",
                                      model={"name": info.get("name"), "version": info.get("version")} if info else {}))
    create_table_artifact(key="budget-alerts", table=out or [{"team": "-", "pct": "-", "threshold": "none crossed"}],
                          description="Budget projections crossing 80% / 100%")
    create_markdown_artifact(key="budget-forecast", description="Month-to-date cost and forecast vs budget",
                             markdown=budget_forecast_markdown(desired, costs if costs is not None else empty, fc.team,
                                                               now, forecast_by_project=fc.project))
    _refuse_unchecked_budgets(desired)      # after every other budget was checked and alerted
    return out


def _refuse_unchecked_budgets(desired) -> None:
    """The budget check fails (after checking every other budget) while a budget file is broken: that
    budget was not checked, and a green run would say it was."""
    from wasmops.errors import SpecError
    from wasmops.finops.budget_files import broken_budget_files

    broken = broken_budget_files(desired)
    if broken:
        raise SpecError("budget file(s) not checked, they are broken: " + "; ".join(map(str, broken)),
                        where=broken[0].file, hint="fix the file in Git and commit it; every other budget was checked")


def refuse_broken_price_sheet(desired) -> None:
    """Nothing can be priced without the price sheet: a broken one stops a cost report, naming file and field."""
    broken = [e for e in desired.errors if e.kind == "PriceSheet"]
    if broken:
        raise broken[0].error()


def _without_prices(desired, key: str, s) -> dict:
    """No price sheet in Git: nothing can be priced. With budgets in force that is a broken repo (the
    file is named); without any, FinOps is simply not in use and the gate lets the release through."""
    from wasmops.errors import ConfigError

    where = str(s.gitops_dir / "pricing.yaml")
    if desired.budgets:
        raise ConfigError(f"{len(desired.budgets)} budget(s) in force but no PriceSheet to price {key} with",
                          where=where, hint="commit a PriceSheet (the seed's deployments/pricing.yaml is one)")
    msg = f"no PriceSheet and no Budget in the GitOps repo: {key} is not priced (budget gate skipped)"
    return {"outcome": "allowed", "message": msg, "markdown": ""}
