"""A rollback that sticks: revert the release in Git, quarantine the digest, reconcile.

Because the bad digest is in ``quarantine.yaml`` in Git, no later release or reconcile can
bring it back until a person removes it on purpose (``wasmops quarantine remove``).
"""

from __future__ import annotations

from wasmops.config import Settings
from wasmops.gitops.decisions import Decision, record
from wasmops.digests import shown
from wasmops.errors import NotFound


def _live_wasm_digest(s: Settings, key: str, digest: str) -> str | None:
    """The wasm layer digest the host admitted for ``digest`` (None if the host does not run it)."""
    from wasmops.host.client import HostClient

    try:
        for m in HostClient.from_workspace(s).modules():
            if f"{m['namespace']}/{m['name']}" == key and m["digest"] == digest:
                return m.get("wasm_digest")
    except Exception:  # noqa: BLE001 - an unreachable host only means we quarantine the manifest digest alone
        return None
    return None


def _restored_wasm_digest(repo, key: str) -> str | None:
    """The wasm digest of the version Git holds now (from its release commit's Wasm-Digest trailer).
    When the rolled-back artifact carries the same wasm (re-published with other annotations),
    quarantining that wasm would refuse the rollback itself, so it is not quarantined."""
    restored = repo.desired().deployments[key].spec.module_ref.digest
    sha = repo.last_commit_for(key, restored) if restored else None
    if not sha:
        return None
    for line in repo.repo.commit(sha).message.splitlines():
        if line.startswith("Wasmops-Wasm-Digest: "):
            return line.split(": ", 1)[1].strip()
    return None


def pinned_elsewhere(repo, key: str, digests: set[str]) -> list[str]:
    """Other targets whose manifests pin one of ``digests`` (the same bytes released elsewhere): the
    quarantine reaches them too (dev ones stop serving at the next reconcile; prod ones are kept
    serving and reported until a person rolls them back or lifts the quarantine)."""
    return sorted(k for k, m in repo.desired().deployments.items()
                  if k != key and m.spec.module_ref.digest in digests)


def pinned_warning(repo, others: list[str]) -> str:
    """What the quarantine does to the other targets that pin the digest, by their environment (the
    reconciler's rule, ``gitops.plan``): prod ones keep serving it until a person acts; others stop
    serving it at their next reconcile. "" when there are none.

    >>> class Repo:
    ...     def desired(self):
    ...         class D: deployments = {"prod/a": _Env("prod"), "staging/a": _Env("staging")}
    ...         return D()
    >>> class _Env:
    ...     def __init__(self, env): self.spec = type("S", (), {"environment": env})()
    >>> print(pinned_warning(Repo(), ["prod/a", "staging/a"]))
    the same digest is pinned by prod/a, staging/a: staging/a stops serving it at its next reconcile; prod/a keeps serving it until you roll it back there or lift the quarantine (`wasmops quarantine remove`)
    """
    if not others:
        return ""
    deps = repo.desired().deployments
    prod = [k for k in others if k in deps and deps[k].spec.environment == "prod"]
    rest = [k for k in others if k not in prod]
    said = []
    if rest:
        said.append(f"{', '.join(rest)} {'stops' if len(rest) == 1 else 'stop'} serving it at "
                    f"{'its' if len(rest) == 1 else 'their'} next reconcile")
    if prod:
        said.append(f"{', '.join(prod)} {'keeps' if len(prod) == 1 else 'keep'} serving it until you roll it back "
                    "there or lift the quarantine (`wasmops quarantine remove`)")
    return f"the same digest is pinned by {', '.join(others)}: " + "; ".join(said)


def rollback(s: Settings, key: str, *, digest: str | None = None, wasm_digest: str | None = None,
             reason: str = "", actor: str = "wasmops",
             reconcile_after: bool = True) -> dict:
    from wasmops.gitops.repo import GitOpsRepo

    repo = GitOpsRepo.from_settings(s)
    m = repo.desired().deployment(key)   # SpecError (file, field) if its manifest is broken
    bad = digest or m.spec.module_ref.digest
    if not bad:
        raise NotFound(f"{key} has no released digest to roll back", where=str(repo.path))
    reverted = repo.revert_release(key, bad, reason=reason or "rollback", actor=actor)
    # Quarantine the content too: re-publishing the same wasm makes a new manifest digest
    # (a new `created` annotation), and that must not bring the bad module back.
    wasm_digest = wasm_digest or _live_wasm_digest(s, key, bad)
    quarantined = repo.quarantine(bad, module=key, reason=reason or "rollback", actor=actor, kind="manifest")
    if wasm_digest and wasm_digest != _restored_wasm_digest(repo, key):
        repo.quarantine(wasm_digest, module=key, reason=f"wasm of {shown('manifest', bad)}: {reason or 'rollback'}",
                        actor=actor, kind="wasm")
    out = {"key": key, "digest": bad, "reverted": reverted.changed, "quarantined": quarantined.changed,
           "commit": reverted.sha, "also_pinned_by": (others := pinned_elsewhere(repo, key, {bad, wasm_digest} - {None})),
           "pinned_warning": pinned_warning(repo, others)}
    if reconcile_after:
        from wasmops.host.client import HostClient
        from wasmops.gitops.reconcile import reconcile

        rep = reconcile(repo.desired(), HostClient.from_workspace(s), registry=s.registry_base, mode="heal",
                        namespaces={key.split("/", 1)[0]}, check_binding=True)
        out["reconcile"] = rep.summary()
        # The rollback is done once the host serves what Git now says for this module (others may wait).
        out["converged"] = rep.converged(key)
        out["restored_digest"] = repo.desired().deployments[key].spec.module_ref.digest
    record(repo.path, Decision(kind="rollback", subject=key, verdict="rolled-back", actor=actor, digest=bad,
                               policy_rule="sticky rollback: revert + quarantine", action=
                               f"reverted to {out.get('restored_digest') or 'unreleased'}; quarantined {bad}",
                               explanation=reason))
    return out
