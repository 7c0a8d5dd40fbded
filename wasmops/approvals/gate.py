"""The approval gate of one paused release: counts signed answers against the covering policies.

Pure logic, no Prefect: the flow feeds it what arrives and asks whether the policy is met::

    >>> from wasmops.approvals.gate import ApprovalGate, Expected
    >>> from wasmops.approvals.statement import approver_ring
    >>> from wasmops.approvals.policy import ApprovalPolicy
    >>> p = ApprovalPolicy.model_validate({"metadata": {"name": "p"}, "spec": {"rules": [{"group": "sre"}]}})
    >>> gate = ApprovalGate([p], approver_ring({}), Expected("run-1", "prod/x", "sha256:" + "0" * 64, "rita"))
    >>> gate.needs(), gate.outcome()
    (['1 more from sre (policy p; approvers/sre/ holds 0 key(s))'], None)
    >>> gate.submit_unsigned(True, "lgtm", "ann").code
    'unsigned'

Refusal codes (a refused answer changes nothing; the run keeps waiting): ``bad-signature``,
``outside-group``, ``replay``, ``name-mismatch``, ``future``, ``expired``, ``no-reason``,
``self-approval``, ``unsigned``. Rejections (signed or not) always stop the release: stopping is
the safe side, so they need no group quorum, but a signed rejection must still verify.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Literal

from ..errors import SignatureError
from .policy import ApprovalPolicy
from .statement import ApproverRing, verify_signature

CLOCK_SKEW = timedelta(minutes=5)


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


@dataclass(frozen=True)
class Expected:
    """What an answer must be about: this run, this target, this manifest; and who started it."""

    run_id: str
    target: str
    manifest_digest: str
    releaser: str


@dataclass(frozen=True)
class Answer:
    """One counted answer. Signed answers keep the statement text and the bundle for the record."""

    approver: str
    decision: Literal["approve", "reject"]
    reason: str
    at: datetime
    signed: bool
    groups: frozenset[str] = frozenset()
    key_id: str | None = None
    statement: str | None = None
    bundle: dict | None = None

    def to_record(self) -> dict:
        d = asdict(self)
        d["at"], d["groups"] = self.at.isoformat(), sorted(self.groups)
        return d


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    code: str            # counted | rejection | renewed | one of the refusal codes
    message: str
    approver: str = ""


def _match(slots: list[str], people: dict[str, frozenset[str]]) -> dict[int, str]:
    """Assign each person to at most one slot of a group they belong to, filling as many slots as
    possible (bipartite matching: alice in sre and security must not fill both)."""
    owner: dict[int, str] = {}

    def place(name: str, seen: set[int]) -> bool:
        for i, group in enumerate(slots):
            if group in people[name] and i not in seen:
                seen.add(i)
                if i not in owner or place(owner[i], seen):
                    owner[i] = name
                    return True
        return False

    for name in sorted(people):
        place(name, set())
    return owner


@dataclass
class ApprovalGate:
    policies: list[ApprovalPolicy]
    ring: ApproverRing
    expected: Expected
    approvals: dict[str, Answer] = field(default_factory=dict)   # approver -> newest approval
    refused: list[dict] = field(default_factory=list)
    rejection: Answer | None = None
    unsigned_approval: Answer | None = None

    # -- what the policies say, together ------------------------------------------------------
    @property
    def groups(self) -> set[str]:
        return {r.group for p in self.policies for r in p.spec.rules}

    @property
    def allow_unsigned(self) -> bool:
        return all(p.spec.allow_unsigned for p in self.policies)

    @property
    def allow_self(self) -> bool:
        return all(p.spec.allow_self_approval for p in self.policies)

    @property
    def require_reason(self) -> bool:
        return any(p.spec.require_reason for p in self.policies)

    @property
    def timeout_outcome(self) -> Literal["approved", "rejected"]:
        return "approved" if all(p.spec.on_timeout == "approve" for p in self.policies) else "rejected"

    def describe(self) -> str:
        return "; ".join(f"{p.name}: {p.describe()}" for p in self.policies)

    # -- answers ------------------------------------------------------------------------------
    def _refuse(self, code: str, message: str, approver: str = "", signed: bool = True) -> Verdict:
        self.refused.append({"approver": approver, "code": code, "message": message, "signed": signed,
                             "at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        return Verdict(False, code, message, approver)

    def submit(self, submission: dict, now: datetime | None = None) -> Verdict:
        """A signed answer: verify it, then count it or say why not."""
        now = _now(now)
        try:
            signer, st = verify_signature(submission, self.ring)
        except SignatureError as exc:
            code = "outside-group" if "untrusted key" in exc.message else "bad-signature"
            return self._refuse(code, f"{exc.message}")
        who = signer.name
        exp = self.expected
        for what, got, want in (("run", st.run_id, exp.run_id), ("target", st.target, exp.target),
                                ("manifest digest", st.manifest_digest, exp.manifest_digest)):
            if got != want:
                return self._refuse("replay", f"signed for {what} {got}, this is {want}", who)
        if st.approver != who:
            return self._refuse("name-mismatch", f"the statement names {st.approver} but is signed "
                                                  f"with {who}'s key", who)
        age = now - st.signed_at
        if age < -CLOCK_SKEW:
            return self._refuse("future", f"signed at {st.time}, in the future", who)
        longest = max(p.spec.expiry_s for p in self.policies)
        if age > timedelta(seconds=longest):
            return self._refuse("expired", f"signed at {st.time}, {int(age.total_seconds())}s ago; "
                                           f"approvals expire after {longest}s", who)
        if not signer.groups & self.groups:
            return self._refuse("outside-group", f"{who} is in {', '.join(sorted(signer.groups))}; "
                                                 f"the policy counts {', '.join(sorted(self.groups))}", who)
        answer = Answer(who, st.decision, st.reason, st.signed_at, True, signer.groups, signer.key_id,
                        submission["statement"], submission.get("bundle"))
        return self._count(answer)

    def submit_unsigned(self, approve: bool, reason: str, approver: str,
                        now: datetime | None = None) -> Verdict:
        """An answer from the Prefect form or ``wasmops approve`` without ``--key``."""
        answer = Answer(approver or "unknown", "approve" if approve else "reject", reason or "",
                        _now(now), False)
        if approve and not self.allow_unsigned:
            return self._refuse("unsigned", "unsigned approvals do not count under "
                                f"{', '.join(p.name for p in self.policies)}: sign with "
                                f"`wasmops approve {self.expected.run_id} --key PATH --reason ...`",
                                answer.approver, signed=False)
        return self._count(answer)

    def _count(self, a: Answer) -> Verdict:
        if a.decision == "reject":
            self.rejection = self.rejection or a
            return Verdict(True, "rejection", f"rejected by {a.approver}: {a.reason or 'no reason'}", a.approver)
        if self.require_reason and not a.reason.strip():
            return self._refuse("no-reason", "a reason is required", a.approver, a.signed)
        if a.approver == self.expected.releaser and not self.allow_self:
            return self._refuse("self-approval", f"{a.approver} started this release and may not approve it",
                                a.approver, a.signed)
        if not a.signed:
            self.unsigned_approval = a
            return Verdict(True, "counted", f"unsigned approval by {a.approver}", a.approver)
        renewed = a.approver in self.approvals
        self.approvals[a.approver] = a
        return Verdict(True, "renewed" if renewed else "counted",
                       f"{'renewed' if renewed else 'counted'}: {a.approver} "
                       f"({', '.join(sorted(a.groups & self.groups))})", a.approver)

    # -- the tally ----------------------------------------------------------------------------
    def _tally(self, p: ApprovalPolicy, now: datetime) -> tuple[list[str], list[str]]:
        """(what ``p`` still needs, who counts for it)."""
        fresh = {a.approver: a.groups for a in self.approvals.values()
                 if now - a.at <= timedelta(seconds=p.spec.expiry_s)}
        slots = [r.group for r in p.spec.rules for _ in range(r.count)]
        owner = _match(slots, fresh)
        needs = []
        for r in p.spec.rules:
            have = sum(1 for i, g in enumerate(slots) if g == r.group and i in owner)
            if have < r.count:
                keys = len(self.ring.members(r.group))
                hint = f"; approvers/{r.group}/ holds {keys} key(s)" if keys < r.count else ""
                needs.append(f"{r.count - have} more from {r.group} (policy {p.name}{hint})")
        return needs, sorted(set(owner.values()))

    def needs(self, now: datetime | None = None) -> list[str]:
        now = _now(now)
        return [n for p in self.policies for n in self._tally(p, now)[0]]

    def outcome(self, now: datetime | None = None) -> Literal["approved", "rejected"] | None:
        if self.rejection:
            return "rejected"
        if self.unsigned_approval or not self.needs(now):
            return "approved"
        return None

    def counted(self, now: datetime | None = None) -> list[Answer]:
        """The approvals that count now (for the record), oldest first."""
        now = _now(now)
        names = {n for p in self.policies for n in self._tally(p, now)[1]}
        return sorted((a for a in self.approvals.values() if a.approver in names), key=lambda a: a.at)

    def status(self, now: datetime | None = None) -> dict:
        """What ``wasmops approvals`` shows and ``wasmops approve --key`` signs over."""
        now = _now(now)
        e = self.expected
        return {"run_id": e.run_id, "target": e.target, "manifest_digest": e.manifest_digest,
                "releaser": e.releaser, "policies": [p.name for p in self.policies], "rule": self.describe(),
                "needs": self.needs(now), "outcome": self.outcome(now), "allow_unsigned": self.allow_unsigned,
                "approved_by": [a.approver for a in self.counted(now)],
                "refused": [f"{r['approver'] or '?'}: {r['code']}: {r['message']}" for r in self.refused]}
