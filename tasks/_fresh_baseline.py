"""The release judge's fresh baseline: the previous digest admitted again beside the new one for the
judging window (a plain function the ``ai-sample`` task of ``tasks/release.py`` calls)."""

from __future__ import annotations

from wasmops.config import current
from wasmops.release.steps import Baseline
from wasmops.release.verify import target_probes
from wasmops.supply.source import ModuleSource

from ._common import warn


def fresh_baseline(hc, src: ModuleSource, key: str, manifest_digest: str, requests: int,
                   baseline: Baseline | None) -> tuple[Baseline, dict] | None:
    """The previous digest admitted again as a weight-0 canary beside the new one (pinned requests only),
    both sampled in alternating batches, then removed: ``(fresh baseline, new digest's samples)``, or
    None when it cannot be done (no previous digest, the host refused it, or it answered fewer than half
    of its requests, e.g. removed by a reconcile mid-window: the caller falls back to the samples taken
    before the switch). In fleet mode the host's agent would remove the extra digest as drift
    mid-window, so this runs on the workspace host only."""
    from wasmops.ai.release_check import judge_interleaved, load_policy
    from wasmops.errors import NotFound, WasmopsError

    if baseline is None or not baseline.deploy or baseline.manifest_digest == manifest_digest:
        return None
    ns, name = key.split("/", 1)
    try:
        hc.set_canary(ns, name, weight=0, **baseline.deploy)
    except WasmopsError as exc:
        warn(f"no fresh baseline for {key}: the host refused the previous digest again ({exc}); "
             "judging against the samples taken before the switch")
        return None
    try:
        old, new, v = judge_interleaved(hc, ns, name, target_probes(current(), src, key), baseline.manifest_digest, manifest_digest,
                                        load_policy(current().gitops_dir), requests=requests)
    finally:
        try:
            hc.delete_canary(ns, name)
        except NotFound:
            pass
    answered = sum(1 for x in old["error_rate"] if x == x)           # NaN: not answered by the previous digest
    if answered < len(old["error_rate"]) / 2:                         # removed mid-window (a reconcile healing drift)
        warn(f"fresh baseline for {key}: the previous digest answered {answered} of {len(old['error_rate'])} "
             "requests; judging against the samples taken before the switch")
        return None
    return Baseline(baseline.manifest_digest, old, baseline.deploy, fresh=True, looks=v.looks), new
