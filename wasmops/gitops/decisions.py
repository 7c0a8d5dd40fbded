"""Decision records: every verdict and every automatic action, with who, why, and on what data.

Records are append-only JSON files in the GitOps repo under ``audit/decisions/`` (one file per
decision, never rewritten), committed as they are made::

    >>> from wasmops.gitops.decisions import Decision
    >>> d = Decision(kind="approval", subject="prod/greet-c", verdict="approved", actor="ann",
    ...              policy_rule="prod requires approval", explanation="looks good")
    >>> d.id.startswith("dec-"), d.verdict
    (True, 'approved')

Shadow verdicts (a challenger model scoring beside the champion) are recorded with
``shadow=True`` and ``refers_to`` = the champion's decision on the same data; nothing acts on them,
and :func:`list_decisions` leaves them out unless asked (``shadow=True`` or ``None``). An
operator's judgement of a decision is a new record of kind ``label`` (:func:`label_decision`),
``refers_to`` the judged decision: the judged file is never rewritten. Model promotions and
demotions are records of kind ``promotion`` (see ``models/governance.py``).
"""

from __future__ import annotations

import json
import math
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
    kind: str                       # approval | anomaly | budget | rollback | drift | verify | release ...
    subject: str                    # ns/name (or team for budgets)
    verdict: str                    # approved | rejected | ok | anomalous | hold | blocked | rolled-back | interrupted
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
    shadow: bool = False            # a challenger's verdict: recorded, never acted upon
    refers_to: str | None = None    # the decision this one labels (kind label) or shadows


#: What a verdict judged ``--wrong`` should have been (verdicts with one alternative only).
OPPOSITE = {"ok": "anomalous", "anomalous": "ok", "pass": "fail", "fail": "pass"}

#: Kinds of decision a label can judge: the model verdicts ``models compare`` weighs. A label on
#: anything else (a promotion, an approval) would be counted nowhere.
LABELLED_KINDS = ("anomaly",)


def has_model(d: "Decision") -> bool:
    """Whether a model made this verdict (a hold recorded before any champion existed has none)."""
    return bool((d.model or {}).get("name")) and (d.model or {}).get("version") not in (None, "", "None")


def json_safe(v):
    """NaN and infinities (a metric row without data, say) as null: the records are strict JSON,
    readable by any parser, not only Python's and jq."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    return v


def record(repo_dir: str | Path, decision: Decision, *, commit: bool = True) -> Path:
    """Append ``decision`` to the audit directory (and commit it when the dir is a git repo)."""
    root = Path(repo_dir)
    day = decision.at[:10]
    path = root / AUDIT_DIR / day / f"{decision.id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise FileExistsError(f"decision {decision.id} already recorded")
    path.write_text(json.dumps(json_safe(decision.model_dump()), indent=1, sort_keys=True, default=str,
                               allow_nan=False) + "\n")
    if commit and (root / ".git").exists():
        from wasmops.gitops.repo import GitOpsRepo

        repo = GitOpsRepo.open(root)
        with repo.locked():
            repo._commit([path], f"decision {decision.kind} {decision.subject}: {decision.verdict}\n\n"
                                 f"{decision.explanation[:500]}\n\nWasmops-Decision: {decision.id}\n"
                                 f"Wasmops-Actor: {decision.actor}\n")
    return path


def list_decisions(repo_dir: str | Path, *, subject: str | None = None, kind: str | None = None,
                   limit: int | None = None, shadow: bool | None = False) -> list[Decision]:
    """Newest first. ``shadow``: False (default) leaves shadow verdicts out, True lists only them,
    None lists both."""
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
        if shadow is not None and d.shadow != shadow:
            continue
        out.append(d)
    out.sort(key=lambda d: d.at, reverse=True)
    return out[:limit] if limit else out


def get_decision(repo_dir: str | Path, decision_id: str) -> Decision:
    """The decision with this id (its file is ``audit/decisions/<day>/<id>.json``); KeyError if none."""
    root = Path(repo_dir) / AUDIT_DIR
    for p in root.glob(f"*/{decision_id}.json") if root.exists() else []:
        return Decision.model_validate_json(p.read_text())
    raise KeyError(decision_id)


def label_decision(repo_dir: str | Path, decision_id: str, *, correct: bool, reason: str = "",
                   actor: str = "operator", commit: bool = True, should_be: str | None = None) -> Decision:
    """Record an operator's judgement of ``decision_id`` as a new ``label`` decision (append-only).

    ``output.truth`` is what the verdict should have been: the verdict itself when correct, its
    :data:`OPPOSITE` when wrong (None when a wrong verdict has no single alternative, e.g. ``hold``)."""
    judged = get_decision(repo_dir, decision_id)
    _check_labellable(judged)
    truth = judged.verdict if correct else (should_be or OPPOSITE.get(judged.verdict))
    if truth is None:       # recorded as truth null, such a label counted nowhere (models compare ignored it)
        raise ValueError(f"{judged.verdict!r} has no single opposite: say what it should have been (--should-be)")
    if should_be is not None and (correct or should_be == judged.verdict):
        raise ValueError("--should-be goes with --wrong, and names another verdict than the recorded one")
    d = Decision(kind="label", subject=judged.subject, verdict="correct" if correct else "wrong", actor=actor,
                 policy_rule="an operator's judgement of a recorded verdict", action="none: recorded for evaluation",
                 explanation=reason, digest=judged.digest, model=judged.model, refers_to=judged.id,
                 inputs={"decision": judged.id, "kind": judged.kind, "verdict": judged.verdict,
                         "shadow": judged.shadow},
                 output={"truth": truth})
    record(repo_dir, d, commit=commit)
    return d


def _check_labellable(judged: Decision) -> None:
    """ValueError (one line) for a decision a label would mean nothing on."""
    if judged.kind == "label":
        raise ValueError(f"{judged.id} is a label itself; label the decision it refers to ({judged.refers_to})")
    if judged.kind not in LABELLED_KINDS:
        undo = (f"; if it was wrong, lift its quarantine: wasmops quarantine remove {judged.digest} --reason WHY"
                if judged.kind in ("release-verdict", "canary-step") and judged.digest and judged.verdict == "fail"
                else "")       # a pass or a hold quarantined nothing: that digest may be the one serving
        raise ValueError(f"{judged.id} is a {judged.kind} record; only model verdicts can be labelled "
                         f"(kind {', '.join(LABELLED_KINDS)}){undo}")
    if not has_model(judged):
        raise ValueError(f"{judged.id} was made with no model (no champion was registered): there is no "
                         "model verdict to label")


def labels_of(repo_dir: str | Path, decision_id: str) -> list[Decision]:
    """The label records that judge ``decision_id``, oldest first (the newest one counts)."""
    return sorted((d for d in list_decisions(repo_dir, kind="label") if d.refers_to == decision_id),
                  key=lambda d: d.at)
