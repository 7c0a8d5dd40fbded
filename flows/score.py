"""Score the newest telemetry with the champion anomaly model (every few minutes), and the
challenger beside it in shadow.

GX validation comes first: a module whose own rows fail (NaN, negative, duplicate key, stamped in
the future) or whose newest row is older than ``freshness_minutes`` (its telemetry stopped) gets
``hold`` naming them, and the others are judged on their own rows; a failure no module's rows
explain (an empty or stale window, a column's type) holds every module. Holds are
recorded with the failed expectations, and nothing acts on them. So do an empty window, a module without a baseline
(cold start) and a version with fewer than ``min_windows`` windows of traffic. Each anomalous
module emits ``wasmops.anomaly.detected``, which triggers the rollback deployment.

Continuous monitoring: each module's own history (up to 30 days, real telemetry only, GX-validated
on every run: rows that fail are left out and named, a module whose telemetry stopped is held) through the
seasonal rank detector (``models.monitor``), alarms at the false-alarm rate set in
``policies/monitoring.yaml``; verdicts are decision records of kind ``monitor``.

The flow returns the anomaly verdicts, the shadow ones, then the monitor's (``kind: monitor``).

Shadow: the challenger (the latest registered version that is not ``@champion``) judges the same
rows; its verdicts are decision records with ``shadow: true`` that refer to the champion's decision
on the same version. They emit no event and nothing acts on them; ``wasmops models compare`` weighs
them against operators' labels.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from pydantic import Field

from tasks.telemetry import challenger, champion, judge_and_record, monitor_and_record, read_window, validate_telemetry
from wasmops.digests import shown


@flow(name="score", log_prints=True, flow_run_name="score last {window_minutes}m")
def score(window_minutes: Annotated[int, Field(ge=1)] = 60, freshness_minutes: Annotated[int, Field(ge=1)] | None = 30,
          shadow: bool = True, min_windows: Annotated[int, Field(ge=1)] = 2) -> list[dict]:
    df = read_window(window_minutes)
    outcome = validate_telemetry(df, freshness_minutes=freshness_minutes, per_module_freshness=True)
    model, info = champion("anomaly")
    verdicts = judge_and_record(df, outcome, model, info, min_windows=min_windows, window_minutes=window_minutes)
    for v in verdicts:
        print(f"{v['subject']} {shown('manifest', v['digest'] or None)}: {v['verdict']} - {v['explanation']}")
    monitored = monitor_and_record(outcome, window_minutes)   # continuous monitoring, per module
    for m in monitored:
        print(f"monitor {m['subject']}: {m['verdict']} - {m['explanation']}")
    if shadow:
        cmodel, cinfo = challenger("anomaly")
        if cmodel is not None:
            pairs = {f"{v['subject']}@{v['digest']}": v["decision_id"] for v in verdicts}
            shadowed = judge_and_record(df, outcome, cmodel, cinfo, shadow=True, pairs=pairs,
                                        min_windows=min_windows, window_minutes=window_minutes)
            for v in shadowed:
                print(f"shadow v{cinfo['version']} {v['subject']} {shown('manifest', v['digest'] or None)}: {v['verdict']} "
                      "(not acted upon)")
            verdicts = verdicts + shadowed
    return verdicts + [{**m, "kind": "monitor", "digest": None} for m in monitored]
