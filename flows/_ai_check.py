"""The release judge after a plain switch, as a subflow of the release (run name ``ai-check NS/NAME``).

Sample the new digest with the module's probe requests (on the workspace host interleaved with the
previous digest, admitted again beside it for the window: a fresh baseline), validate the host's
telemetry of those probes for that window (its ``wasmops_probe_*`` series, which are not the team's
telemetry and are not billed; GX: a failed check means hold), then judge new vs previous digest per
metric.
"""

from __future__ import annotations

from prefect import flow

from tasks.release import ai_judge, ai_sample
from tasks.telemetry import validate_telemetry
from wasmops.release.steps import AiVerdict, Baseline
from wasmops.supply.source import ModuleSource


@flow(name="ai-check", flow_run_name="ai-check {key}", log_prints=True)
def ai_check(src: ModuleSource, key: str, manifest_digest: str, requests: int = 60,
             baseline: Baseline | None = None, release_run_id: str = "", host_url: str | None = None) -> AiVerdict:
    """``host_url``: in fleet mode the host the baseline was sampled on (default the workspace host)."""
    ns, name = key.split("/", 1)
    samples, baseline, df = ai_sample(src, key, manifest_digest, requests, host_url=host_url, baseline=baseline)
    df = df[(df["namespace"] == ns) & (df["module"] == name) & (df["digest"] == manifest_digest)]
    outcome = validate_telemetry(df, freshness_minutes=30, key=f"ai-verify-{name}")
    verdict = ai_judge(key, manifest_digest, baseline, samples, outcome, requests=requests,
                       release_run_id=release_run_id)
    if verdict.verdict == "hold" and baseline is not None:     # a first release has nothing to compare with
        _alert_hold(key, manifest_digest, verdict)
    return verdict


def _alert_hold(key: str, manifest_digest: str, verdict: AiVerdict) -> None:
    """The release stays live, so a person must hear of it: a ``wasmops.release.held`` event (a Prefect
    automation can notify on it), a warning in the run's log, and ``wasmops status`` lists it."""
    from prefect import get_run_logger
    from prefect.events import emit_event

    emit_event("wasmops.release.held", resource={"prefect.resource.id": f"wasmops.module.{key}"},
               payload={"digest": manifest_digest, "explanation": verdict.explanation, "looks": verdict.looks})
    get_run_logger().warning(f"{key}: the release judge could not decide ({verdict.explanation}); the new digest "
                             "serves and a person should review it (`wasmops decisions --kind release-verdict`)")
