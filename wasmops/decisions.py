"""Decision records: every verdict and every automatic action, with who, why, and on what data.

Records are append-only JSON files in the GitOps repo under ``audit/decisions/`` (one file per
decision, never rewritten), committed as they are made::

    >>> from wasmops.decisions import Decision
    >>> d = Decision(kind="approval", subject="prod/greet-c", verdict="approved", actor="ann",
    ...              policy_rule="prod requires approval", explanation="looks good")
    >>> d.id.startswith("dec-"), d.verdict
    (True, 'approved')
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

AUDIT_DIR = "audit/decisions"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Decision(BaseModel):
    """One decision. ``model`` and ``data`` are filled for AI verdicts; ``actor`` is a person or ``wasmops``."""

    id: str = Field(default_factory=lambda: f"dec-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}")
    at: str = Field(default_factory=_now)
    kind: str                       # approval | anomaly | budget | rollback | drift | verify
    subject: str                    # ns/name (or team for budgets)
    verdict: str                    # approved | rejected | ok | anomalous | hold | blocked | rolled-back ...
    actor: str = "wasmops"
    policy_rule: str = ""
    action: str = ""                # what was done about it
    explanation: str = ""
    digest: str | None = None
    model: dict[str, Any] = Field(default_factory=dict)       # name, version, alias
    data: dict[str, Any] = Field(default_factory=dict)        # window, digest, GX result
    inputs: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, Any] = Field(default_factory=dict)
    flow_run_id: str | None = None


def record(repo_dir: str | Path, decision: Decision, *, commit: bool = True) -> Path:
    """Append ``decision`` to the audit directory (and commit it when the dir is a git repo)."""
    root = Path(repo_dir)
    day = decision.at[:10]
    path = root / AUDIT_DIR / day / f"{decision.id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise FileExistsError(f"decision {decision.id} already recorded")
    path.write_text(json.dumps(decision.model_dump(), indent=1, sort_keys=True, default=str) + "\n")
    if commit and (root / ".git").exists():
        from .gitops import GitOpsRepo

        repo = GitOpsRepo.open(root)
        with repo.locked():
            repo._commit([path], f"decision {decision.kind} {decision.subject}: {decision.verdict}\n\n"
                                 f"{decision.explanation[:500]}\n\nWasmops-Decision: {decision.id}\n"
                                 f"Wasmops-Actor: {decision.actor}\n")
    return path


def list_decisions(repo_dir: str | Path, *, subject: str | None = None, kind: str | None = None,
                   limit: int | None = None) -> list[Decision]:
    """Newest first."""
    root = Path(repo_dir) / AUDIT_DIR
    if not root.exists():
        return []
    out = []
    for p in root.rglob("dec-*.json"):
        d = Decision.model_validate_json(p.read_text())
        if subject and subject not in d.subject:
            continue
        if kind and d.kind != kind:
            continue
        out.append(d)
    out.sort(key=lambda d: d.at, reverse=True)
    return out[:limit] if limit else out
