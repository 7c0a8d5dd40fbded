"""Wait, Paused, until the ApprovalPolicies covering a release are met, a rejection arrives, or the
timeout passes. The counting is :class:`wasmops.approvals.ApprovalGate`; this is the Prefect part.

How answers reach a paused run (several can arrive while it stays Paused):

* **signed** (``wasmops approve RUN --key PATH``): a flow-run input ``wasmops-signed-<id>`` holding
  ``{statement, bundle}``. It does not resume the run. The run polls these inputs once a second,
  verifies each, and answers with ``wasmops-verdict-<id>`` (counted, or refused with the reason).
* **unsigned** (the Prefect UI form, ``wasmops approve RUN`` without ``--key``): Prefect's resume.
  When the policy does not count it, the run logs the refusal and pauses again at once.

The run publishes what it still needs in the input ``wasmops-approval-status`` (``wasmops
approvals`` shows it; ``wasmops approve --key`` signs over its run, target and digest). When the
policy is met (or a rejection arrives) the run resumes itself with Prefect's resume endpoint, so the
pause form's answer records ``wasmops (policy)``. The pause itself is Prefect's: a ``Paused`` state
with a form, proposed here rather than through ``pause_flow_run`` because that call blocks until a
resume and cannot look at other inputs meanwhile.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Callable
from uuid import UUID

import httpx
from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.input import keyset_from_paused_state
from prefect.states import Paused
from prefect.utilities.engine import propose_state_sync

from wasmops.approvals import ApprovalGate, Expected, approver_ring, load_approval_config_at

SIGNED_PREFIX = "wasmops-signed-"
VERDICT_PREFIX = "wasmops-verdict-"
STATUS_KEY = "wasmops-approval-status"
POLICY_APPROVER = "wasmops (policy)"
SLACK_S = 15          # the Prefect pause outlives our deadline, so our own resume is never refused
POLL_S = 1.0
MAX_MISSES = 60       # consecutive transient API errors (about a minute) before the wait gives up


def policy_gate(manifest, key: str, manifest_digest: str, releaser: str, run_id: str) -> ApprovalGate | None:
    """The gate for ``key`` if an ApprovalPolicy in Git covers it, else None (today's one answer)."""
    from wasmops.config import current
    from wasmops.gitops.repo import GitOpsRepo

    repo = GitOpsRepo.from_settings(current())
    cfg = load_approval_config_at(repo.path, repo.branch)
    policies = cfg.covering(manifest)   # a broken policy file raises SpecError: fail closed
    if not policies:
        return None
    for err in cfg.errors:
        get_run_logger().warning(f"approvers: {err} (that key does not count)")
    return ApprovalGate(policies, approver_ring(cfg.groups), Expected(run_id, key, manifest_digest, releaser))


def policy_covers(manifest) -> bool:
    """Whether an ApprovalPolicy in Git covers this target (a broken policy file raises: fail closed)."""
    from wasmops.config import current
    from wasmops.gitops.repo import GitOpsRepo

    repo = GitOpsRepo.from_settings(current())
    return bool(load_approval_config_at(repo.path, repo.branch).covering(manifest))


def policy_note(gate: ApprovalGate) -> str:
    """The paragraph the Prefect form shows: the policy, whether this form counts, and (on a re-pause)
    the refusals so far. Live counts are in ``wasmops approvals`` (a form is written once per pause)."""
    st = gate.status()
    form = ("**This form counts**: the policy allows unsigned approvals." if gate.allow_unsigned else
            "**This form's approval does not count**: the policy counts only signed approvals "
            f"(`wasmops approve {gate.expected.run_id} --key PATH --reason \"...\"`). A rejection here stops "
            "the release.")
    refused = "".join(f"\n- refused {r}" for r in st["refused"][-5:])
    return (f"\n\n**Approval policy** {gate.describe()} (distinct approvers, signed; `wasmops approvals` "
            f"shows who has approved and what is still needed).{refused}\n\n{form}")


class _Pause:
    """One Prefect pause after another (a refused form answer resumes the run; we pause again)."""

    def __init__(self, client, run_id: UUID):
        self.client, self.run_id, self.n, self.keyset = client, run_id, 0, None

    def start(self, form, timeout_s: float) -> None:
        self.n += 1
        state = Paused(timeout_seconds=int(timeout_s) + SLACK_S, reschedule=False, pause_key=f"policy-{self.n}")
        self.keyset = keyset_from_paused_state(state)
        state.state_details.run_input_keyset = self.keyset
        new = propose_state_sync(self.client, state, flow_run_id=self.run_id)
        if not new.is_paused():
            raise RuntimeError(f"flow run cannot be paused: {new}")
        form.save(self.keyset, flow_run_id=self.run_id)

    def resumed(self) -> bool:
        r = self.client.read_flow_run(self.run_id)
        return bool(r.state and r.state.is_running())

    def resume(self, outcome: str, why: str) -> None:
        """Leave the pause ourselves (the policy decided); a run already running stays as it is."""
        r = self.client.read_flow_run(self.run_id)
        if r.state and r.state.is_paused():
            self.client.resume_flow_run(self.run_id, run_input={
                "approve": outcome == "approved", "reason": why[:500], "approver": POLICY_APPROVER})


def _write_status(client, run_id: UUID, gate: ApprovalGate) -> None:
    try:
        client.delete_flow_run_input(run_id, STATUS_KEY)
    except (ObjectNotFound, PrefectHTTPStatusError):
        pass
    client.create_flow_run_input(run_id, STATUS_KEY, json.dumps(gate.status()))


def _take_signed(client, run_id: UUID, gate: ApprovalGate, seen: set[str], log) -> bool:
    """Verify every new signed answer; publish a verdict for each. True if any arrived."""
    new = client.filter_flow_run_input(run_id, SIGNED_PREFIX, limit=100, exclude_keys=seen)
    for item in sorted(new, key=lambda i: (i.created or 0, i.key)):
        seen.add(item.key)
        try:
            submission = json.loads(item.value)
        except ValueError:
            submission = None
        v = gate.submit(submission)
        (log.info if v.accepted else log.warning)(
            f"signed answer {item.key}: {'accepted' if v.accepted else 'REFUSED'} ({v.code}): {v.message}")
        client.create_flow_run_input(run_id, VERDICT_PREFIX + item.key[len(SIGNED_PREFIX):],
                                     json.dumps({**asdict(v), "needs": gate.needs()}))
    return bool(new)


def _take_form(pause: _Pause, form, gate: ApprovalGate, log) -> None:
    ans = form.load(pause.keyset, flow_run_id=pause.run_id)
    v = gate.submit_unsigned(bool(ans.approve), ans.reason, ans.approver)
    (log.info if v.accepted else log.warning)(
        f"form answer by {ans.approver or 'unknown'}: {'accepted' if v.accepted else 'REFUSED'} ({v.code}): "
        f"{v.message}")


class _Wait:
    """One run's wait: the pause, the signed inputs already seen, and the gate."""

    def __init__(self, client, gate: ApprovalGate, form_for: Callable[[ApprovalGate], type], log):
        self.client, self.gate, self.form_for, self.log = client, gate, form_for, log
        self.run_id = UUID(gate.expected.run_id)
        self.pause, self.form, self.seen = _Pause(client, self.run_id), form_for(gate), set()

    def begin(self, timeout_s: float) -> None:
        _write_status(self.client, self.run_id, self.gate)
        self.pause.start(self.form, timeout_s)

    def tick(self, deadline: float) -> None:
        """Take what arrived: signed inputs, a form answer (refused: pause again)."""
        changed = _take_signed(self.client, self.run_id, self.gate, self.seen, self.log)
        if self.pause.resumed():
            _take_form(self.pause, self.form, self.gate, self.log)
            changed = True
            if self.gate.outcome() is None:
                self.form = self.form_for(self.gate)
                self.pause.start(self.form, max(1.0, deadline - time.monotonic()))
        if changed:
            _write_status(self.client, self.run_id, self.gate)

    def decided(self, deadline: float) -> tuple[str, bool] | None:
        outcome = self.gate.outcome()
        timed_out = outcome is None and time.monotonic() >= deadline
        if not (outcome or timed_out):
            return None
        outcome = outcome or self.gate.timeout_outcome
        self.pause.resume(outcome, f"{'timeout: ' if timed_out else ''}{outcome} under {self.gate.describe()}")
        return outcome, timed_out


def _transient(exc: Exception) -> bool:
    if isinstance(exc, PrefectHTTPStatusError):
        return exc.response.status_code >= 500
    return isinstance(exc, httpx.TransportError)


def wait_for_policy(gate: ApprovalGate, form_for: Callable[[ApprovalGate], type], timeout_s: float
                    ) -> tuple[str, bool]:
    """Block until the gate decides or ``timeout_s`` passes: ``(outcome, timed_out)``.

    ``form_for(gate)`` makes the RunInput form class. A Prefect API hiccup (connection error, 5xx)
    is logged and the wait goes on; ``MAX_MISSES`` in a row end it with the error."""
    log = get_run_logger()
    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        w = _Wait(client, gate, form_for, log)
        w.begin(timeout_s)
        misses = 0
        while True:
            try:
                w.tick(deadline)
                done = w.decided(deadline)
                misses = 0
            except Exception as exc:  # noqa: BLE001 - only transient API errors are tolerated
                misses += 1
                if not _transient(exc) or misses > MAX_MISSES:
                    raise
                log.warning(f"approval wait: Prefect API error ({exc}); still waiting")
                done = None
            if done:
                return done
            time.sleep(POLL_S)
