"""The release flow's canary branch (``spec.rollout.strategy: canary``): after commit and approval,
the steps run instead of a plain switch. Per step (``tasks.canary.canary_step``): set the weight,
wait the pause while both digests take pinned traffic, judge canary vs stable over that window.

* pass → the next step; the step with weight 100 promotes the canary (Git keeps moduleRef);
* fail → abort to 100 % stable on the host at once, then ``CanaryAborted`` (a ``VerifyFailed``):
  the release transaction reverts the commit and the flow's sticky rollback quarantines the digest;
* hold (not enough samples) or marginal → the flow pauses for a person (``request_approval(force=True)``);
  a rejection aborts like a fail, without quarantine.

A first release (nothing stable in Git) or steps that start at 100 are a plain switch.
"""

from __future__ import annotations

from prefect import get_run_logger

from flows._approval import request_approval
from tasks.canary import canary_abort, canary_promote, canary_step
from wasmops.digests import shown
from wasmops.errors import ApprovalRejected, CanaryAborted
from wasmops.release.steps import Proposal
from wasmops.supply.source import ModuleSource

__all__ = ["CanaryAborted", "run_canary", "start_progress", "uses_canary"]


def uses_canary(manifest) -> bool:
    r = manifest.spec.rollout
    return r.strategy == "canary" and bool(manifest.spec.module_ref.digest) and r.steps[0].weight < 100


def start_progress(manifest) -> dict | None:
    """``spec.rollout.inProgress`` for the release commit (None: a plain switch)."""
    if not uses_canary(manifest):
        return None
    ref = manifest.spec.module_ref
    return {"stable": {"tag": ref.tag, "digest": ref.digest}, "step": 0, "weight": manifest.spec.rollout.steps[0].weight}


def run_canary(key: str, manifest, proposal: Proposal, src: ModuleSource, timeout_s: int,
               requests: int = 30) -> dict | None:
    """The steps; None when the manifest asks for a plain switch. Raises ``CanaryAborted`` on fail."""
    if not uses_canary(manifest):
        return None
    log = get_run_logger()
    stable = start_progress(manifest)["stable"]
    canary = proposal.manifest_digest
    steps = []
    for i, st in enumerate(manifest.spec.rollout.steps):
        if st.weight == 100:
            out = canary_promote(key, canary)
            log.info(f"canary {key}: promoted {shown('manifest', canary)} after {len(steps)} step(s)")
            return {"outcome": "promoted", "steps": steps, **out}
        res = canary_step(key, i, st.weight, st.pause_seconds, stable, canary, src, requests)
        steps.append(res)
        log.info(f"canary {key} step {i} at {st.weight} %: {res['verdict']} ({res['explanation']})")
        if res["verdict"] == "fail":
            ab = canary_abort(key)
            if ab["failed"]:     # those hosts keep the canary until their agents pull Git's revert
                log.error(f"canary {key}: {len(ab['failed'])} of {len(ab['hosts'])} host(s) could not be told to "
                          "drop the canary and keep serving it until their agents pull Git's revert: "
                          + "; ".join(f"{h}: {why}" for h, why in sorted(ab["failed"].items())))
            else:
                log.warning(f"canary {key} aborted to stable in {ab['abort_s'] * 1000:.0f} ms")
            raise CanaryAborted(f"canary aborted at step {i} ({st.weight} %): {res['explanation']}", where=key)
        if res["verdict"] != "pass":
            _ask(key, manifest, proposal, res, timeout_s)
    return {"outcome": "promoted", "steps": steps}


def _ask(key: str, manifest, proposal: Proposal, res: dict, timeout_s: int) -> None:
    extra = (f"**Canary step {res['step']} at {res['weight']} %: {res['verdict']}.** {res['explanation']}\n\n"
             "Approve to go on to the next step; reject to abort to stable.")
    try:
        request_approval(key, manifest, proposal, auto_approve=False, timeout_s=timeout_s, extra=extra, force=True)
    except ApprovalRejected:
        canary_abort(key)
        raise
