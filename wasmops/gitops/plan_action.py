"""One action of a plan, and how its fields read in reasons and drift (pure, no I/O).

Below both halves of the plan: :mod:`wasmops.gitops.plan` (the stable digest) and
:mod:`wasmops.gitops.rollout_plan` (the canary) build and extend these actions; ``plan`` imports
``rollout_plan``, never the other way round::

    >>> _change("limits.memory", 64 * 2**20, 128 * 2**20)
    'limits.memory 64Mi → 128Mi'
    >>> _change("env.TOKEN", None, "x")
    'env.TOKEN added'
    >>> _change("args", None, ["-o", "-", ""])
    "args unset → -o - ''"
    >>> _short("sha256:" + "ab" * 32)
    'sha256:abababababab…'
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Literal

from wasmops.digests import short
from wasmops.gitops.manifest import WasmModuleDeployment
from wasmops.units import format_size


@dataclass(slots=True)
class Action:
    kind: Literal["create", "update", "delete", "noop", "skip"]
    key: str
    reason: str
    body: dict | None = None       # the deploy body, for create and update
    digest: str | None = None      # the digest Git asks for
    live: dict | None = None       # the module as the host reported it, if it has it
    diff: tuple = ()               # for an update: (field, Git's value, the host's value), ...
    invalid: str | None = None     # for a broken manifest: "file: field: problem"
    canary: dict | None = None     # the canary body (with weight) Git asks for; None: no canary
    promote: bool = False          # the host's canary is the digest Git now wants stable: promote it


def desired_spec(m: WasmModuleDeployment, digest: str | None = None) -> dict:
    """The fields of a manifest the host must match, in the host's own shape (``digest``: the
    stable digest of a canary rollout in progress, else moduleRef's)."""
    rc = m.spec.runtime_config
    return {"digest": digest or m.spec.module_ref.digest, "trust_level": rc.trust_level, "limits": m.host_limits(),
            "env": rc.env, "labels": m.metadata.labels, "replicas": m.spec.replicas,
            **({"success_exit_codes": rc.success_exit_codes} if rc.success_exit_codes else {}),
            **({"args": rc.args} if rc.args else {}),
            **({"scratch": rc.scratch.model_dump()} if rc.scratch else {})}


def _short(digest) -> str:
    return short(digest) if isinstance(digest, str) else str(digest)


def _fmt(fld: str, v) -> str:
    if v is None:
        return "unset"
    if fld in ("limits.memory", "limits.max_stdout") and isinstance(v, int):
        return format_size(v)
    if fld == "args" and isinstance(v, list):        # as a shell would spell them, at most 80 characters
        said = shlex.join(v)
        return said if len(said) <= 80 else said[:79] + "…"
    return _short(v)


def _change(fld: str, old, new) -> str:
    if fld.startswith("env."):   # values stay out of reports
        return f"{fld} {'added' if old is None else 'removed' if new is None else 'changed'}"
    return f"{fld} {_fmt(fld, old)} → {_fmt(fld, new)}"
