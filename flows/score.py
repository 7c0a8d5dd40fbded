"""Score the newest telemetry with the champion anomaly model (every few minutes).

GX validation comes first: bad or stale data gives ``hold`` for every module, recorded with the
failed expectations, and no automatic action. Each anomalous module emits
``wasmops.anomaly.detected``, which triggers the rollback deployment.
"""

from __future__ import annotations

from prefect import flow

from tasks.telemetry import champion, judge_and_record, read_window, validate_telemetry


@flow(name="score", log_prints=True, flow_run_name="score last {window_minutes}m")
def score(window_minutes: int = 60, freshness_minutes: int = 30) -> list[dict]:
    df = read_window(window_minutes)
    outcome = validate_telemetry(df, freshness_minutes=freshness_minutes)
    model, info = champion("anomaly")
    verdicts = judge_and_record(df, outcome, model, info)
    for v in verdicts:
        print(f"{v['subject']} {v['digest'][:19]}: {v['verdict']} - {v['explanation']}")
    return verdicts
