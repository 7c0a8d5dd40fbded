"""Operator actions against the Prefect API: list pending approvals, answer them, run flows.

Prefect has no resume CLI; ``wasmops approvals`` / ``approve`` / ``reject`` use these.
"""

from __future__ import annotations

import json
import time
from uuid import UUID, uuid4

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateName
from prefect.exceptions import NotPausedError, ObjectNotFound, PrefectHTTPStatusError
from prefect.flow_runs import resume_flow_run

from flows._approval_policy import SIGNED_PREFIX, STATUS_KEY, VERDICT_PREFIX
from flows._owner import owner_unknown, public_tags


def pending_approvals() -> list[dict]:
    """Paused flow runs with what they wait for (the pause's description)."""
    out = []
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Paused"]))))
        for r in runs:
            keyset = (r.state.state_details.run_input_keyset or {}) if r.state else {}
            desc = _description(client, r.id, keyset.get("description")) if keyset.get("description") else None
            out.append({"id": str(r.id), "name": r.name, "tags": public_tags(r.tags),
                        "owner_unknown": owner_unknown(r.tags),
                        "paused_at": str(r.state.timestamp) if r.state else "",
                        "timeout": str(r.state.state_details.pause_timeout) if r.state else "",
                        "description": desc or "", "form_ready": desc is not None,
                        "policy": _read_json(client, r.id, STATUS_KEY)})
    return out


def _read_input(client, run_id, key: str) -> str | None:
    """A flow-run input's raw value, or None while it does not exist (Prefect answers 404 for a
    moment after a run enters Paused, before its form is written)."""
    try:
        return client.read_flow_run_input(run_id, key)
    except ObjectNotFound:
        return None
    except PrefectHTTPStatusError as exc:
        if exc.response.status_code == 404:
            return None
        raise


def _read_json(client, run_id, key: str):
    """A flow-run input as JSON, or None while it does not exist."""
    raw = _read_input(client, run_id, key)
    return None if raw is None else json.loads(raw)


def approval_status(run_id: str, *, timeout_s: float = 0.0) -> dict | None:
    """What the run's ApprovalPolicy still needs (None: no policy covers it, or it has not paused yet).
    With ``timeout_s``, wait that long for the status to appear."""
    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while True:
            st = _read_json(client, run_uuid(run_id), STATUS_KEY)
            if st is not None or time.monotonic() >= deadline:
                return st
            time.sleep(0.5)


def submit_signed(run_id: str, *, private_key_pem: bytes, approve: bool, reason: str,
                  approver: str | None = None, wait_s: float = 20.0) -> dict:
    """Sign an answer for a paused run and hand it in; returns the run's verdict (or that it is pending).

    The statement covers the run, target and manifest digest that the run itself published. The
    approver name is the key's name in ``approvers/<group>/<name>.pub`` (else ``approver``)."""
    from wasmops.approvals import Statement, sign_statement
    from wasmops.errors import NotFound

    st = approval_status(run_id, timeout_s=30.0)
    if st is None:
        raise NotFound(f"run {run_id} does not wait under an ApprovalPolicy (or is not paused)",
                       hint="answer it without --key, or check `wasmops approvals`")
    name = _signer_name(private_key_pem) or approver
    if not name:
        raise NotFound("this key is not in approvers/<group>/ in the GitOps repo; pass --approver to sign anyway")
    statement = Statement(run_id=run_id, target=st["target"], manifest_digest=st["manifest_digest"],
                          decision="approve" if approve else "reject", reason=reason, approver=name)
    verdict = hand_in(run_id, sign_statement(statement, private_key_pem), wait_s=wait_s)
    return {**verdict, "statement": statement.model_dump(by_alias=True)}


def hand_in(run_id: str, submission: dict, *, wait_s: float = 20.0) -> dict:
    """Give a run a signed answer ``{statement, bundle}`` (it does not resume the run) and wait for
    the run's verdict: ``{accepted, code, message, approver, needs}``; ``code: pending`` if none came."""
    sid = uuid4().hex
    with get_client(sync_client=True) as client:
        client.create_flow_run_input(UUID(run_id), SIGNED_PREFIX + sid, json.dumps(submission))
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            verdict = _read_json(client, UUID(run_id), VERDICT_PREFIX + sid)
            if verdict is not None:
                return verdict
            time.sleep(0.3)
    return {"accepted": None, "code": "pending", "approver": "", "needs": [],
            "message": f"handed in; the run has not answered within {wait_s:.0f}s"}


def _signer_name(private_key_pem: bytes) -> str | None:
    from wasmops.approvals import approver_ring, find_signer, load_approval_config_at
    from wasmops.approvals.statement import public_pem_of
    from wasmops.config import current
    from wasmops.gitops.repo import GitOpsRepo

    repo = GitOpsRepo.from_settings(current())
    signer = find_signer(approver_ring(load_approval_config_at(repo.path, repo.branch).groups),
                         public_pem_of(private_key_pem))
    return signer.name if signer else None


def _description(client, run_id, key: str) -> str | None:
    """The pause form's markdown, or None while the paused run has not written it yet."""
    raw = _read_input(client, run_id, key)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        value = raw
    return value if isinstance(value, str) else json.dumps(value)


def run_uuid(run_id: str) -> UUID:
    """The flow run id as a UUID; a UserError naming it for anything else (``wasmops.ids``)."""
    from wasmops.ids import flow_run_id

    return flow_run_id(run_id)


def _state_of(run_id: UUID) -> str:
    """The run's state name; NotFound naming it when the Prefect server has no such run."""
    from wasmops.errors import NotFound

    with get_client(sync_client=True) as client:
        try:
            r = client.read_flow_run(run_id)
        except ObjectNotFound:
            raise NotFound("no such flow run on this Prefect server", where=str(run_id),
                           hint="`wasmops approvals` lists the runs that wait, with their ids") from None
    return r.state.name if r.state else "Scheduled"


def owner_note(run_id: str) -> str | None:
    """``owner_unknown``'s note for the run (None for a run whose process is recorded, or no such run)."""
    with get_client(sync_client=True) as client:
        try:
            return owner_unknown(client.read_flow_run(run_uuid(run_id)).tags)
        except ObjectNotFound:
            return None


FINAL = {"Completed", "Failed", "Cancelled", "Crashed", "Cancelling"}


def answer(run_id: str, *, approve: bool, reason: str, approver: str, timeout_s: float = 30.0) -> None:
    """Resume a paused run with an answer. Retries while the pause has not landed yet; a run that
    does not exist or has ended is a one-line error at once."""
    from wasmops.errors import UserError

    rid = run_uuid(run_id)
    deadline = time.monotonic() + timeout_s
    while True:
        state = _state_of(rid)
        if state in FINAL:
            raise UserError(f"the run is {state}: it no longer waits for an answer", where=run_id,
                            hint="`wasmops approvals` lists the runs that wait")
        try:
            resume_flow_run(rid, run_input={"approve": approve, "reason": reason, "approver": approver})
            return
        except NotPausedError:
            if time.monotonic() > deadline:
                raise UserError(f"the run is {state}, not paused for approval (waited {timeout_s:.0f} s)",
                                where=run_id) from None
            time.sleep(0.5)


def wait_for_state(run_id: str, names: set[str], timeout_s: float = 120.0) -> str:
    """Poll a flow run until its state name is in ``names``; returns the state name."""
    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while True:
            r = client.read_flow_run(UUID(run_id))
            if r.state and r.state.name in names:
                return r.state.name
            if time.monotonic() > deadline:
                raise TimeoutError(f"flow run {run_id} still {r.state.name if r.state else '?'} after {timeout_s}s")
            time.sleep(0.25)
