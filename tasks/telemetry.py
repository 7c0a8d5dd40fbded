"""Telemetry and AI tasks: scrape, validate (GX), train, score."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from wasmops.config import Settings

from ._common import RETRY


@task(name="scrape", cache_policy=NO_CACHE, **RETRY)
def scrape(count: int = 1, interval_s: float = 0.0) -> int:
    import time

    from wasmops.host.client import HostClient
    from wasmops.telemetry import Collector, Store, scrape_host

    s = Settings()
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

    return Store.open(Settings()).window(minutes, modules=modules, digest=digest)


@task(name="validate-telemetry", cache_policy=NO_CACHE)
def validate_telemetry(df, freshness_minutes: int | None = 30, min_rows: int = 1, key: str = "telemetry-validation"):
    """GX before any AI decision. The report is a markdown artifact; a failure also raises an event."""
    from prefect.events import emit_event

    from wasmops.telemetry.validate import validate

    out = validate(df, freshness_minutes=freshness_minutes, min_rows=min_rows)
    create_markdown_artifact(key=key, markdown=out.to_markdown(), description="Telemetry validation (GX)")
    if not out.success:
        emit_event("wasmops.telemetry.invalid", resource={"prefect.resource.id": "wasmops.telemetry"},
                   payload={"result_id": out.result_id, "failed": [f["type"] for f in out.failed][:20]})
    return out


@task(name="load-champion", cache_policy=NO_CACHE)
def champion(kind: str):
    """(model, info) or (None, {}) when nothing is promoted yet."""
    from models.registry import load_champion

    try:
        return load_champion(kind)
    except LookupError:
        return None, {}


@task(name="train", cache_policy=NO_CACHE)
def train(kind: str, train_df, holdout_df, gx_result_id: str, data_digest: str, code_version: str) -> dict:
    from models.registry import train_and_register

    res = train_and_register(kind, train_df, holdout_df, gx_result_id=gx_result_id, data_digest=data_digest,
                             code_version=code_version)
    create_markdown_artifact(
        key=f"train-{kind}", description=f"{kind} model training",
        markdown=f"## {res.name} v{res.version}: {'promoted to @champion' if res.promoted else 'not promoted'}\n\n"
                 f"{res.reason}\n\n| metric | candidate | champion |\n|---|---|---|\n" +
                 "\n".join(f"| {k} | {v:.4f} | {res.champion_metrics.get(k, float('nan')):.4f} |"
                           for k, v in res.metrics.items()))
    return {"name": res.name, "version": res.version, "promoted": res.promoted, "reason": res.reason,
            "metrics": res.metrics}


@task(name="judge", cache_policy=NO_CACHE)
def judge_and_record(df, outcome, model, info: dict, subjects=None, action_for=None) -> list[dict]:
    """Verdicts with explanations; each becomes a decision record; anomalies emit an event."""
    from prefect.events import emit_event
    from prefect.runtime import flow_run

    from wasmops.decisions import record
    from wasmops.verdicts import data_window, judge, markdown, to_decision

    s = Settings()
    model_info = {"name": info.get("name"), "version": info.get("version"), "alias": info.get("alias")} if info else {}
    verdicts = judge(df, outcome, model, model_info, subjects=subjects)
    window = data_window(df)
    for v in verdicts:
        action = (action_for or {}).get(v.verdict) or {"anomalous": "emit wasmops.anomaly.detected",
                                                         "hold": "none: a person is alerted"}.get(v.verdict, "none")
        record(s.gitops_dir, to_decision(v, outcome=outcome, model_info=model_info, window=window, action=action,
                                         flow_run_id=str(flow_run.get_id() or "")))
        if v.verdict == "anomalous":
            emit_event("wasmops.anomaly.detected", resource={"prefect.resource.id": f"wasmops.module.{v.subject}"},
                       payload={"key": v.subject, "digest": v.digest, "explanation": v.explanation,
                                "model": model_info})
    create_markdown_artifact(key="ai-verdicts", markdown="## AI verdicts\n\n" + markdown(verdicts),
                             description="Verdicts with explanations")
    return [v.to_dict() for v in verdicts]
