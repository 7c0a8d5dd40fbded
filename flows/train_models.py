"""Train the anomaly and cost models on each module's own validated history and register them in MLflow.

The data is the telemetry store's last ``days`` (``models.training.plan_training``): modules with
less than ``min_history_days`` of history (default 14, ``MIN_HISTORY_DAYS``) are left out and
keep getting ``hold`` from the anomaly verdicts; their releases are judged by the release judge.
GX validates the rows before anything is fitted: a module whose own rows fail is left out with
them named (the others are trained); a failure no module's rows explain trains nothing. The newest
``holdout_days`` are held out; a candidate becomes ``@champion`` only if it beats the current champion on that window, and, when any
of its rows is synthetic (``wasmops telemetry synth``), only with ``allow_synthetic``.

``synthetic=True`` trains on ``modules`` synthetic modules with labelled anomalies instead of the
store (tests; the store is not touched), tagged ``data.synthetic=true`` like any synthetic training.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow, get_run_logger
from pydantic import Field

from models.training import COST_MIN_TRAIN_DAYS, MIN_HISTORY_DAYS
from tasks.telemetry import plan_history, plan_synthetic, train, validate_telemetry


@flow(name="train-models", log_prints=True, flow_run_name="train-models {days}d history, {holdout_days}d holdout")
def train_models(days: Annotated[int, Field(ge=1)] = 28, holdout_days: Annotated[int, Field(ge=1)] = 7,
                 min_history_days: Annotated[float, Field(ge=0)] = MIN_HISTORY_DAYS, allow_synthetic: bool = False,
                 synthetic: bool = False, modules: Annotated[int, Field(ge=1)] = 30, seed: int = 0) -> dict:
    from wasmops.errors import WasmopsError
    from wasmops.ai.verdicts import data_digest

    log = get_run_logger()
    plan = (plan_synthetic(modules, days, holdout_days, seed) if synthetic
            else plan_history(days, holdout_days, min_history_days))
    log.info(plan.summary())
    out: dict = {"data": {"source": plan.source, "synthetic": plan.synthetic, "modules": plan.modules,
                          "summary": plan.summary()}, "cold": plan.cold}
    if not plan.modules:
        print(f"nothing trained: {plan.why_nothing()}; verdicts stay hold (cold start)")
        return out
    outcome = validate_telemetry(plan.data, freshness_minutes=None, min_rows=100, key="training-data-validation")
    if not outcome.window_ok:
        names = "; ".join(f"{f['type'].removeprefix('expect_')}({f.get('column') or ''}): {f.get('observed', '')}"
                          + (f" in {f['rows']}" if f.get("rows") else "") for f in outcome.failed[:5])
        raise WasmopsError(f"training data failed validation ({len(outcome.failed)} checks: {names}); nothing trained",
                           where="train-models")
    if outcome.held_series:     # their own rows failed GX: left out, named; the others are trained
        plan = _leave_out_held(plan, outcome, out)
        if not plan.modules:
            print(f"nothing trained: {plan.why_nothing()}")
            return out
    digest, rev = data_digest(plan.data), _revision()
    plans = {"anomaly": plan, "cost": plan.restrict(COST_MIN_TRAIN_DAYS, f"the cost model needs {COST_MIN_TRAIN_DAYS:g}")}
    for kind, p in plans.items():
        if not p.modules:
            print(f"{kind}: nothing trained: no module has {COST_MIN_TRAIN_DAYS:g} days of history before the holdout")
            out[f"cold_{kind}"] = p.cold
            continue
        out[kind] = train(kind, p.train, p.holdout, outcome.result_id, digest, rev, synthetic=p.synthetic,
                          source=p.source, allow_synthetic=allow_synthetic, seed=seed)
        print(f"{kind}: v{out[kind]['version']} {'promoted' if out[kind]['promoted'] else 'kept out'}: "
              f"{out[kind]['reason']}" + (f"; modules forecast by {out[kind]['forecast_by']}"
                                          if out[kind].get("forecast_by") else ""))
    return out


def _leave_out_held(plan, outcome, out: dict):
    """The plan without the modules whose own rows failed GX (cold, with their rows named); ``out``
    (the flow's result) says so."""
    from wasmops.ai.hold_reasons import series_reason

    plan = plan.without({k: series_reason(outcome.failed_for(k), "the other modules are trained")
                         for k in outcome.held_series})
    out["cold"] = plan.cold
    out["data"].update(source=plan.source, synthetic=plan.synthetic, modules=plan.modules, summary=plan.summary())
    print(f"left out, their own rows failed validation: {', '.join(sorted(outcome.held_series))}")
    return plan


def _revision() -> str:
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown"
    except OSError:
        return "unknown"
