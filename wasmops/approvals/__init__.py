"""Approval policies as signed objects in Git (no Prefect here; ``flows/_approval_policy.py`` waits).

* :mod:`.policy` — the ``ApprovalPolicy`` kind (``approvals/policies/*.yaml``) and the approver
  keys (``approvers/<group>/<name>.pub``), loaded from a GitOps commit.
* :mod:`.statement` — the statement an approver signs (run, target, manifest digest, decision,
  reason, time, approver) and its Sigstore-bundle signature.
* :mod:`.gate` — counts answers for one paused run: N of M per group, expiry, reasons, no
  self-approval, no replay from another run; says what is still needed.
* :mod:`.record` — the decision record and the follow-up commit with ``Wasmops-Approval`` trailers.

    >>> from wasmops.approvals import ApprovalPolicy, ApprovalGate, Statement, sign_statement
"""

from .gate import Answer, ApprovalGate, Expected, Verdict
from .policy import ApprovalConfig, ApprovalPolicy, load_approval_config, load_approval_config_at, parse_duration
from .statement import ApproverRing, Signer, Statement, approver_ring, find_signer, sign_statement, verify_signature

__all__ = [
    "Answer", "ApprovalConfig", "ApprovalGate", "ApprovalPolicy", "ApproverRing", "Expected", "Signer",
    "Statement", "Verdict", "approver_ring", "find_signer", "load_approval_config", "load_approval_config_at",
    "parse_duration", "sign_statement", "verify_signature",
]
