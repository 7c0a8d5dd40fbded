"""The decision record of a release a person (or a signal) stopped.

An interrupted release rolls its transaction back (the Git commit reverted, a canary dropped, the host
put back), and the CLI says "interrupted", but until 2026-12-07 no decision record said so: the
audit trail had a hole exactly where a person stopped a release. Now the release keeps a
:class:`Trail` of what it did so far (:func:`note` from the flow, :func:`undone` from the rollback
hooks), and on SIGINT or SIGTERM the flow writes one record of kind ``release``, verdict
``interrupted``, from it (:func:`interrupted_record`): the signal, the step it landed in, the
digests, what was rolled back and what Git pins now. An interrupt before anything was committed is
recorded too ("nothing to roll back"): the record is where a person looks for what became of a
release, and "stopped at build, nothing changed" is an answer.

The trail lives in a context variable, so the flow's tasks and the transaction's rollback hooks (run
in the flow's thread) reach it without being handed it, and a process running two releases keeps
them apart. Outside a release, :func:`note` and :func:`undone` do nothing.
"""

from __future__ import annotations

import signal as _signal
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Iterator

from wasmops.digests import short, shown
from wasmops.gitops.decisions import Decision

_TRAIL: ContextVar["Trail | None"] = ContextVar("wasmops_release_trail", default=None)

RULE = "an interrupted release rolls back its transaction (commit → verify)"


@dataclass
class Trail:
    """What a release did so far: ``facts`` (digests, tag, commit, the digest Git pinned before) and
    ``rolled_back`` (one line per undo a rollback hook made)."""

    key: str
    facts: dict = field(default_factory=dict)
    rolled_back: list[str] = field(default_factory=list)


#: Keys whose release body this process entered (:func:`watch`). A release stopped before it got there
#: (the CLI's own Prefect server starting, the flow run being created, the module's lock) is recorded by
#: the CLI instead (``wasmops.cli._release_start``), so that exactly one record says where it stopped.
_WATCHED: set[str] = set()


def watched(key: str) -> bool:
    """Did a release of ``key`` in this process get as far as its body (and so record its own interrupt)?"""
    return key in _WATCHED


@contextmanager
def watch(key: str) -> Iterator[Trail]:
    """The trail of the release of ``key`` run inside."""
    trail = Trail(key)
    _WATCHED.add(key)
    token = _TRAIL.set(trail)
    try:
        yield trail
    finally:
        _TRAIL.reset(token)


def note(**facts) -> None:
    """Add facts to the running release's trail (None values are left out)."""
    trail = _TRAIL.get()
    if trail is not None:
        trail.facts.update({k: v for k, v in facts.items() if v is not None})


def undone(what: str) -> None:
    """A rollback hook undid something: one line for the record."""
    trail = _TRAIL.get()
    if trail is not None:
        trail.rolled_back.append(what)


def signal_name(signum: int) -> str:
    """``SIGINT (Ctrl-C)``, ``SIGTERM``...

    >>> signal_name(2), signal_name(15)
    ('SIGINT (Ctrl-C)', 'SIGTERM')
    """
    try:
        name = _signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    return f"{name} (Ctrl-C)" if signum == _signal.SIGINT else name


def action(trail: Trail, git_now: str | None) -> str:
    """What became of the release: what was rolled back, and what Git pins now.

    >>> t = Trail("dev/a", {"manifest_digest": "sha256:new", "previous_digest": "sha256:old"})
    >>> action(t, "sha256:old")
    'nothing to roll back: nothing was committed; Git pins sha256:old, as before the release'
    >>> t.facts["commit"] = "abc"; t.rolled_back.append("Git: release commit abc reverted")
    >>> action(t, "sha256:old")
    'rolled back: Git: release commit abc reverted; Git pins sha256:old, as before the release'
    >>> print(action(Trail("dev/a", {"manifest_digest": "sha256:new", "commit": "abc"}), "sha256:new"))
    ... # doctest: +NORMALIZE_WHITESPACE
    nothing rolled back; Git still pins the new sha256:new (it may serve unverified or unjudged: the same
    command finishes the release)
    """
    f = trail.facts
    if trail.rolled_back:
        done = "rolled back: " + "; ".join(trail.rolled_back)
    elif f.get("commit"):
        done = "nothing rolled back"
    else:
        done = "nothing to roll back: nothing was committed"
    new = f.get("manifest_digest")
    if git_now is None:
        pins = "Git's manifest could not be read"
    elif new and git_now == new:
        pins = (f"Git still pins the new {short(new)} (it may serve unverified or unjudged: the same command "
                "finishes the release)")
    elif git_now == f.get("previous_digest", git_now):
        pins = f"Git pins {short(git_now) if git_now else 'no digest (never released)'}, as before the release"
    else:
        pins = f"Git pins {short(git_now)}"
    return f"{done}; {pins}"


def interrupted_record(trail: Trail, *, signum: int, step: str, actor: str, git_now: str | None,
                       flow_run_id: str | None = None) -> Decision:
    """The decision record of the release of ``trail.key`` stopped by ``signum`` at ``step``."""
    f = trail.facts
    what = action(trail, git_now)
    digests = ", ".join(shown(k.split("_")[0], f[k]) for k in ("manifest_digest", "wasm_digest") if f.get(k))
    return Decision(
        kind="release", subject=trail.key, verdict="interrupted", actor=actor, policy_rule=RULE,
        action=what, digest=f.get("manifest_digest"), flow_run_id=flow_run_id or None,
        explanation=(f"release of {trail.key} interrupted by {signal_name(signum)} at step {step}"
                     f"{f' ({digests})' if digests else ''}; {what}"),
        data={"signal": signal_name(signum).split()[0], "step": step, "namespace": trail.key.split("/", 1)[0],
              "module": trail.key.split("/", 1)[-1], **f, "rolled_back": list(trail.rolled_back),
              "git_digest_now": git_now})


def git_pinned_digest(s, key: str) -> str | None:
    """The digest Git's manifest pins for ``key`` now ("" when none; None when it cannot be read)."""
    from wasmops.gitops.repo import GitOpsRepo

    try:
        m = GitOpsRepo.from_settings(s).desired().deployments.get(key)
    except Exception:  # noqa: BLE001 - a broken manifest: the record says it could not be read
        return None
    return (m.spec.module_ref.digest or "") if m else None
