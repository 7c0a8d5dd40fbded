"""The canary part of a plan: what the host must do so it serves Git's split (pure, no I/O).

``plan._plan_one`` plans the stable digest as usual (for a rollout in progress, the digest in
``spec.rollout.inProgress.stable``), then :func:`with_canary` adds the canary: a missing canary or
one at another weight or digest is drift (``canary.digest``, ``canary.weight``), healed by
``PUT .../canary``; a canary on the host that Git does not ask for is drift too, removed by
``DELETE .../canary``, unless its digest is the one Git now wants stable: then it is promoted.
"""

from __future__ import annotations

from wasmops.gitops.desired import artifact_ref
from wasmops.gitops.plan_action import Action, _change, _short, desired_spec
from wasmops.gitops.rollout import CanarySplit


def canary_body(m, split: CanarySplit, registry: str) -> dict:
    """``PUT /admin/modules/{ns}/{n}/canary`` body: the manifest's runtime config, the canary's ref and weight."""
    ref = artifact_ref(m.spec.module_ref.repository, split.canary_tag, registry)
    return {"ref": ref, **desired_spec(m, split.canary_digest), "weight": split.weight}


def _canary_diff(want: dict | None, live: dict | None) -> list[tuple[str, object, object]]:
    if want is None:
        return [] if live is None else [("canary.digest", None, live.get("digest"))]
    return [(f"canary.{f}", want[f], (live or {}).get(f)) for f in ("digest", "weight")
            if want[f] != (live or {}).get(f)]


def with_canary(a: Action, m, cur: dict | None, split: CanarySplit | None, registry: str) -> Action:
    """``a`` (the stable digest's action) extended with the canary Git asks for."""
    if a.kind in ("delete", "skip") or a.invalid:
        return a            # a module that goes away takes its canary along; a skip keeps what runs
    live = (cur or {}).get("canary")
    want = canary_body(m, split, registry) if split else None
    a.canary = want
    if want is None and live is not None and a.kind == "update" and live.get("digest") == a.digest:
        a.promote = True    # Git wants the canary's digest as stable: promote it, no second admission
        a.reason = f"promote canary {_short(a.digest)} to stable; " + a.reason
        return a
    diff = _canary_diff(want, live)
    if not diff:
        return a
    why = "; ".join(_change(f, l, g) for f, g, l in diff)
    if a.kind == "noop":
        a.kind, a.body, a.live, a.diff, a.reason = "update", None, cur, tuple(diff), why
    else:
        a.diff, a.reason = a.diff + tuple(diff), f"{a.reason}; {why}"
    return a
