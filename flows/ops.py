"""Operator actions against the Prefect API: list pending approvals, answer them, run flows.

Prefect has no resume CLI; ``wasmops approvals`` / ``approve`` / ``reject`` use these.
"""

from __future__ import annotations

import json
import time
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateName
from prefect.exceptions import NotPausedError, ObjectNotFound, PrefectHTTPStatusError
from prefect.flow_runs import resume_flow_run


def pending_approvals() -> list[dict]:
    """Paused flow runs with what they wait for (the pause's description)."""
    out = []
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Paused"]))))
        for r in runs:
            keyset = (r.state.state_details.run_input_keyset or {}) if r.state else {}
            desc = _description(client, r.id, keyset.get("description")) if keyset.get("description") else None
            out.append({"id": str(r.id), "name": r.name, "tags": list(r.tags or []),
                        "paused_at": str(r.state.timestamp) if r.state else "",
                        "timeout": str(r.state.state_details.pause_timeout) if r.state else "",
                        "description": desc or "", "form_ready": desc is not None})
    return out


def _description(client, run_id, key: str) -> str | None:
    """The pause form's markdown, or None while the paused run has not written it yet (Prefect
    answers 404 for a moment after the run enters Paused)."""
    try:
        raw = client.read_flow_run_input(run_id, key)
    except ObjectNotFound:
        return None
    except PrefectHTTPStatusError as exc:
        if exc.response.status_code == 404:
            return None
        raise
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        value = raw
    return value if isinstance(value, str) else json.dumps(value)


def answer(run_id: str, *, approve: bool, reason: str, approver: str, timeout_s: float = 30.0) -> None:
    """Resume a paused run with an answer. Retries while the pause has not landed yet."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            resume_flow_run(UUID(run_id), run_input={"approve": approve, "reason": reason, "approver": approver})
            return
        except NotPausedError:
            if time.monotonic() > deadline:
                raise
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
