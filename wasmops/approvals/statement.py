"""Signed approval statements: what an approver signs, and how the release checks the signature.

A statement is canonical JSON (sorted keys, no spaces) over the run id, target, manifest digest,
decision, reason, time and approver name. It is signed with the approver's ECDSA P-256 key into a
Sigstore bundle v0.3, the same machinery as module signing (:mod:`wasmops.supply.signing`)::

    >>> import tempfile
    >>> from pathlib import Path
    >>> from wasmops.supply.signing import generate_keypair
    >>> from wasmops.approvals.statement import Statement, sign_statement, verify_signature, approver_ring
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = generate_keypair(d / "alice.key", d / "alice.pub")
    >>> st = Statement(run_id="r1", target="prod/greet", manifest_digest="sha256:" + "a" * 64,
    ...                decision="approve", reason="ok", approver="alice")
    >>> sub = sign_statement(st, (d / "alice.key").read_bytes())
    >>> ring = approver_ring({"sre": {"alice": (d / "alice.pub").read_bytes()}})
    >>> signer, statement = verify_signature(sub, ring)
    >>> signer.name, sorted(signer.groups), statement.reason
    ('alice', ['sre'], 'ok')
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import SignatureError
from wasmops.supply.signing import Keyring, key_id, sign_bytes, verify_bytes

STATEMENT_TYPE = "https://wasmops.dev/approval/v1"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Statement(BaseModel):
    """What an approver signs. ``time`` is when they signed (ISO 8601, UTC)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    type: Literal["https://wasmops.dev/approval/v1"] = Field(STATEMENT_TYPE, alias="_type")
    run_id: str = Field(alias="runId", min_length=1)
    target: str = Field(min_length=1)
    manifest_digest: str = Field(alias="manifestDigest", min_length=1)
    decision: Literal["approve", "reject"]
    reason: str = ""
    time: str = Field(default_factory=now_iso)
    approver: str = Field(min_length=1)

    def canonical(self) -> bytes:
        return json.dumps(self.model_dump(by_alias=True), sort_keys=True, separators=(",", ":")).encode()

    @property
    def signed_at(self) -> datetime:
        t = datetime.fromisoformat(self.time)
        return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def sign_statement(statement: Statement, private_key_pem: bytes | str) -> dict:
    """``{"statement": <canonical JSON text>, "bundle": <Sigstore bundle>}``: what is submitted to a run."""
    data = statement.canonical()
    return {"statement": data.decode(), "bundle": sign_bytes(data, private_key_pem)}


@dataclass(frozen=True)
class Signer:
    """The approver a key belongs to: ``approvers/<group>/<name>.pub`` (one name, maybe several groups)."""

    name: str
    groups: frozenset[str]
    key_id: str


@dataclass
class ApproverRing:
    """Every approver key from Git in one :class:`~wasmops.supply.signing.Keyring`, and who each key is."""

    keyring: Keyring
    signers: dict[str, Signer]          # key id -> signer

    def members(self, group: str) -> list[str]:
        return sorted({s.name for s in self.signers.values() if group in s.groups})


def approver_ring(groups: dict[str, dict[str, bytes]]) -> ApproverRing:
    """Build the ring from ``group -> name -> PEM``."""
    ring, who = Keyring(), {}
    for group, members in sorted(groups.items()):
        for name, pem in sorted(members.items()):
            kid = ring.add_public_key(pem, source=f"approvers/{group}/{name}.pub")
            prev = who.get(kid)
            gs = (prev.groups if prev else frozenset()) | {group}
            # The same key under two names is one person; the first name (by group, name) wins.
            who[kid] = Signer(prev.name if prev else name, frozenset(gs), kid)
    return ApproverRing(ring, who)


def find_signer(ring: ApproverRing, public_key_pem: bytes | str) -> Signer | None:
    """The approver whose public key this is, or None."""
    return ring.signers.get(key_id(public_key_pem))


def public_pem_of(private_key_pem: bytes | str) -> bytes:
    """The PEM public key of an ECDSA private key (to find its owner in ``approvers/``)."""
    from cryptography.hazmat.primitives import serialization

    from wasmops.supply.signing import _load_private_key

    return _load_private_key(private_key_pem).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def verify_signature(submission: dict, ring: ApproverRing) -> tuple[Signer, Statement]:
    """Check the bundle over the exact statement bytes against the approver keys.

    Raises SignatureError (``malformed``, ``untrusted key``, ``bad signature``, ``digest mismatch``)."""
    if not isinstance(submission, dict) or not isinstance(submission.get("statement"), str):
        raise SignatureError("malformed submission: expected {statement: <JSON text>, bundle: {...}}")
    data = submission["statement"].encode()
    verified = verify_bytes(data, submission.get("bundle"), ring.keyring, where="approval statement")
    if verified.method != "key" or verified.key_id not in ring.signers:
        raise SignatureError("untrusted key: approvals are signed with a key from approvers/<group>/")
    try:
        statement = Statement.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ())) or "(root)"
        raise SignatureError(f"malformed statement: {loc}: {first.get('msg')}") from exc
    try:
        statement.signed_at
    except ValueError as exc:
        raise SignatureError(f"malformed statement: time: {exc}") from exc
    return ring.signers[verified.key_id], statement
