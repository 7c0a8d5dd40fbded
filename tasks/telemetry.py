"""Telemetry and AI tasks: scrape, validate (GX), train, score."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from wasmops.config import current

from ._common import RETRY


@task(name="scrape", cache_policy=NO_CACHE, **RETRY)
def scrape(count: int = 1, interval_s: float = 0.0) -> int:
    import time

    from wasmops.host.client import HostClient
    from wasmops.telemetry import Collector, Store, scrape_host

    s = current()
    hc = HostClient.from_workspace(s)
    col = Collector(Store.open(s), source=hc.url)
    rows = 0
    for i in range(count):
        rows += len(scrape_host(hc, col))
        if i + 1 < count:
            time.sleep(interval_s)
    return rows


@task(name="read-telemetry", cache_policy=NO_CACHE)
def read_window(minutes: int | None = None, modules: list[str] | None = None, digest: str | None = None):
    """The last ``minutes`` of samples, anchored at now (never at the newest row)."""
    from wasmops.telemetry import Store

    return Store.open(current()).window(minutes, modules=modules, digest=digest)


@task(name="plan-synthetic", cache_policy=NO_CACHE)
def plan_synthetic(modules: int, days: int, holdout_days: int, seed: int):
    """Tests and the demo: a plan over synthetic history with labelled anomalies, ending now, that
    never touches the store (every series synthetic: the models are tagged so)."""
    import pandas as pd

    from models.training import plan_training
    from wasmops.telemetry import synthesize

    df = synthesize(modules=modules, days=days, seed=seed, end=pd.Timestamp.now(tz="UTC").floor("h"))
    series = df[["namespace", "module", "digest"]].drop_duplicates().to_numpy().tolist()
    return _report(plan_training(df, series, holdout_days=holdout_days, min_history_days=min(days / 2, 14)))


@task(name="plan-training", cache_policy=NO_CACHE)
def plan_history(days: int, holdout_days: int, min_history_days: float):
    """Each module's own history from the store, split and filtered (models.training.plan_training)."""
    from models.training import plan_training
    from wasmops.telemetry import Store

    store = Store.open(current())
    return _report(plan_training(store.window(days * 24 * 60), store.synthetic_series(), holdout_days=holdout_days,
                                 min_history_days=min_history_days))


def _report(plan):
    cold = "\n".join(f"| `{k}` | {why} |" for k, why in sorted(plan.cold.items()))
    create_markdown_artifact(key="training-data", description="Training data: modules trained and left out",
                             markdown=f"## Training data\n\n{plan.summary()}; data.source `{plan.source}`\n\n"
                                      + (f"| left out (hold until enough history) | why |\n|---|---|\n{cold}\n"
                                         if cold else ""))
    return plan


@task(name="validate-telemetry", cache_policy=NO_CACHE)
def validate_telemetry(df, freshness_minutes: int | None = 30, min_rows: int = 1, key: str = "telemetry-validation",
                       per_module_freshness: bool = False):
    """GX before any AI decision. The report is a markdown artifact; a failure also raises an event.
    ``per_module_freshness``: a module whose newest row is too old is held, the others judged."""
    from prefect.events import emit_event

    from wasmops.telemetry.validate import validate

    out = validate(df, freshness_minutes=freshness_minutes, min_rows=min_rows,
                   per_module_freshness=per_module_freshness)
    create_markdown_artifact(key=key, markdown=out.to_markdown(), description="Telemetry validation (GX)")
    if not out.success:
        emit_event("wasmops.telemetry.invalid", resource={"prefect.resource.id": "wasmops.telemetry"},
                   payload={"result_id": out.result_id, "failed": [f["type"] for f in out.failed][:20]})
    return out


@task(name="load-champion", cache_policy=NO_CACHE)
def champion(kind: str):
    """(model, info) or (None, {}) when nothing is promoted yet."""
    from models.mlflow_store import champion_absent

    if champion_absent(kind):
        return None, {}
    from models.registry import load_champion

    try:
        return load_champion(kind)
    except LookupError:
        return None, {}


@task(name="load-challenger", cache_policy=NO_CACHE)
def challenger(kind: str):
    """(model, info) of the latest registered version that is not @champion, or (None, {})."""
    from models.registry import load_challenger

    return load_challenger(kind)


@task(name="train", cache_policy=NO_CACHE)
def train(kind: str, train_df, holdout_df, gx_result_id: str, data_digest: str, code_version: str, *,
          synthetic: bool | None = None, source: str | None = None, allow_synthetic: bool = False,
          seed: int = 0) -> dict:
    """Fit, judge and register one model. The anomaly model is judged on the holdout's labels (synthetic)
    or injected anomalies (real history), beside the robust-z baseline; a promotion is recorded in Git."""
    from models.registry import train_and_register

    model, baseline = None, None
    if kind == "anomaly":
        from models.anomaly import AnomalyModel
        from models.training import inject_anomalies, robust_z_metrics

        if "is_anomaly" not in holdout_df.columns:  # real history has no labels: inject faults to judge on
            holdout_df = inject_anomalies(holdout_df, seed=seed)
        model = AnomalyModel().fit(train_df)
        baseline = {"robust_z": robust_z_metrics(model, holdout_df)}
    res = train_and_register(kind, train_df, holdout_df, gx_result_id=gx_result_id, data_digest=data_digest,
                             code_version=code_version, model=model, synthetic=synthetic, data_source=source,
                             allow_synthetic=allow_synthetic, baseline=baseline,
                             decisions_dir=current().gitops_dir)
    served = _forecast_by(res.model)
    create_markdown_artifact(
        key=f"train-{kind}", description=f"{kind} model training",
        markdown=f"## {res.name} v{res.version}: {'promoted to @champion' if res.promoted else 'not promoted'}\n\n"
                 f"{res.reason}\n\n| metric | candidate | champion |\n|---|---|---|\n" +
                 "\n".join(f"| {k} | {v:.4f} | {res.champion_metrics.get(k, float('nan')):.4f} |"
                           for k, v in res.metrics.items()) + (f"\n\nModules forecast by: {served}" if served else ""))
    return {"name": res.name, "version": res.version, "promoted": res.promoted, "reason": res.reason,
            "metrics": res.metrics, "synthetic": res.synthetic, "source": res.data_source,
            "figures": res.figures, **({"forecast_by": served} if served else {})}


def _forecast_by(model) -> str:
    """``model 27, mean4w 3`` for the cost model (which forecast serves how many modules), else ''."""
    if getattr(model, "champions_", None) is None:
        return ""
    from models.forecast_champions import counts

    return f"{counts(model.champions_.values())} (backtested from {model.champion_origins_} weekly origin(s))"


@task(name="judge", cache_policy=NO_CACHE)
def judge_and_record(df, outcome, model, info: dict, subjects=None, action_for=None, *, shadow: bool = False,
                     pairs: dict | None = None, min_windows: int = 1, window_minutes: float | None = None) -> list[dict]:
    """Verdicts with explanations; each becomes a decision record; anomalies emit an event.

    ``shadow``: the challenger's verdicts: recorded with ``shadow: true`` (``refers_to`` the
    champion's decision on the same subject and digest, from ``pairs``), no event, no action."""
    from prefect.runtime import flow_run

    from wasmops.gitops.decisions import record
    from wasmops.ai.verdicts import data_window, judge, markdown, to_decision

    s = current()
    model_info = {k: info.get(k) for k in ("name", "version", "alias")} if info else {}
    verdicts = judge(df, outcome, model, model_info, subjects=subjects, min_windows=min_windows,
                     window_minutes=window_minutes, store=_store_seen(df, outcome))
    window, run_id = data_window(df), str(flow_run.get_id() or "")
    out = []
    for v in verdicts:
        d = to_decision(v, outcome=outcome, model_info=model_info, window=window,
                        action=_action(v, action_for, shadow, model_info), flow_run_id=run_id)
        d.shadow, d.refers_to = shadow, (pairs or {}).get(f"{v.subject}@{v.digest}") if shadow else None
        record(s.gitops_dir, d)
        if v.verdict == "anomalous" and not shadow:
            _emit_anomaly(v, model_info)
        out.append({**v.to_dict(), "decision_id": d.id, "shadow": shadow, "model": model_info})
    create_markdown_artifact(key="ai-verdicts-shadow" if shadow else "ai-verdicts", markdown=(
        f"## {'Shadow verdicts (challenger v' + str(model_info.get('version')) + ', never acted upon)' if shadow else 'AI verdicts'}"
        f"\n\n{markdown(verdicts)}"), description="Verdicts with explanations")
    return out


def _store_seen(df, outcome) -> dict | None:
    """Is the store empty, or only the window, and which modules have rows stamped in the future
    (clock skew)? (a hold's reason, or the verdict of a module judged on its valid rows, says so)"""
    from wasmops.telemetry import Store

    return Store.open(current()).ahead(outcome.now)


def _action(v, action_for, shadow: bool, model_info: dict) -> str:
    if shadow:
        return f"none: shadow verdict of challenger v{model_info.get('version')}, never acted upon"
    return (action_for or {}).get(v.verdict) or {"anomalous": "emit wasmops.anomaly.detected",
                                                 "hold": "none: held, nothing acted on (no event)"}.get(v.verdict, "none")


def _emit_anomaly(v, model_info: dict) -> None:
    from prefect.events import emit_event

    emit_event("wasmops.anomaly.detected", resource={"prefect.resource.id": f"wasmops.module.{v.subject}"},
               payload={"key": v.subject, "digest": v.digest, "explanation": v.explanation, "model": model_info})


@task(name="monitor", cache_policy=NO_CACHE)
def monitor_and_record(outcome, window_minutes: int, history_days: int = 30) -> list[dict]:
    """Continuous monitoring (models.monitor): each live module's own history through the seasonal
    detector, its threshold from ``policies/monitoring.yaml``. Runs only on telemetry GX passed: a
    module whose own rows in the scoring window failed is ``hold`` naming them, the others are judged;
    its history's rows are validated too (``wasmops.telemetry.history``), and those GX rejects are
    left out, the verdict naming them (a module with none left, or a failure no module's rows
    explain, is ``hold``; the GX report is the ``history-validation`` artifact). Each verdict is a
    decision record; an alarm emits ``wasmops.monitor.alarm`` for a person."""
    import pandas as pd
    from prefect.events import emit_event
    from prefect.runtime import flow_run

    from models.monitor import load_config
    from models.monitor_run import action, desired_keys, history_data, monitor_verdicts
    from models.score_chart import anomaly_scores_markdown
    from wasmops.gitops.decisions import Decision, record
    from wasmops.telemetry import Store

    if not outcome.window_ok:
        return []
    s = current()
    store = Store.open(s)
    now = pd.Timestamp.now(tz="UTC")
    out, hist, checked = monitor_verdicts(store, outcome, now, window_minutes, history_days, load_config(s.gitops_dir),
                                          desired=desired_keys(s.gitops_dir))
    for v in out:
        record(s.gitops_dir, Decision(
            kind="monitor", subject=v.subject, verdict=v.verdict, explanation=v.explanation,
            policy_rule="policies/monitoring.yaml (seasonal rank detector, calibrated false-alarm rate)",
            model={"name": "seasonal-rank-detector", "version": "1"}, output={"metrics": v.metrics},
            data={"gx_result": outcome.result_id, "window_minutes": window_minutes, **history_data(checked, v)},
            action=action(v),
            flow_run_id=str(flow_run.get_id() or "")))
        if v.verdict == "anomalous" and any(m.get("alarm") for m in v.metrics.values()):   # not for an ongoing incident
            emit_event("wasmops.monitor.alarm", resource={"prefect.resource.id": f"wasmops.module.{v.subject}"},
                       payload={"key": v.subject, "explanation": v.explanation})
    if checked.outcome is not None:
        create_markdown_artifact(key="history-validation", markdown=checked.outcome.to_markdown(),
                                 description=f"The monitor's {history_days}-day history, validated (GX)")
    create_markdown_artifact(key="anomaly-scores", description="Anomaly score over time with the threshold",
                             markdown=anomaly_scores_markdown(hist, out, now=now, window_minutes=window_minutes,
                                                              config=load_config(s.gitops_dir)))
    return [v.to_dict() for v in out]
