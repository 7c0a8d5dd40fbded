"""Wait for a person's input on a paused flow run, through a restart of the Prefect server.

``prefect.flow_runs.pause_flow_run`` polls the server while it waits; its client retries a refused
connection for about half a minute and then raises, and the release that waited for approval
failed although its run, paused, was still in the server's database. A server restarted under
load (``wasmops down``/``up``, an upgrade, a crash) can take longer than that. Here the wait goes on
through such an outage: when the poll raises a transport error or a 5xx, the run is polled again
until the server answers, and the answer is read as ``pause_flow_run`` would have read it. Other
errors, and the timeout, still end the wait.
"""

from __future__ import annotations

import time
import uuid

import httpx
from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.exceptions import FlowPauseTimeout, PrefectHTTPStatusError
from prefect.flow_runs import pause_flow_run
from prefect.input.run_input import keyset_from_base_key, run_input_subclass_from_type
from prefect.runtime import flow_run

#: How often the run is polled while the server is away.
AWAY_POLL_S = 2.0


def server_away(exc: BaseException) -> bool:
    """The server did not answer (refused, reset, timed out) or answered with a 5xx: it may come back."""
    if isinstance(exc, httpx.TransportError):
        return True
    if isinstance(exc, PrefectHTTPStatusError):
        return exc.response.status_code >= 500
    return isinstance(exc, (ConnectionError, TimeoutError))


def pause_for_input(model, *, timeout_s: int, poll_s: int = 1):
    """``pause_flow_run(wait_for_input=model, timeout=timeout_s)``, surviving a server outage.

    Raises ``FlowPauseTimeout`` when nobody answered within ``timeout_s`` (outage included)."""
    start = time.monotonic()
    key = f"approval-{uuid.uuid4().hex[:12]}"      # unique: a second pause in one run is a new question
    try:
        return pause_flow_run(wait_for_input=model, timeout=timeout_s, poll_interval=poll_s, key=key)
    except Exception as exc:   # noqa: BLE001 - only an unreachable server is waited out; the rest re-raise
        if not server_away(exc):
            raise
        get_run_logger().warning(f"the Prefect server stopped answering while this run waits for approval "
                                 f"({type(exc).__name__}); still waiting, for it and for the answer")
    return _wait_out(model, key, deadline=start + timeout_s)


def _wait_out(model, key: str, *, deadline: float):
    """Poll the paused run until it is resumed (return the input), leaves Paused otherwise (raise),
    or ``deadline`` passes (``FlowPauseTimeout``)."""
    log = get_run_logger()
    run_id = flow_run.get_id()
    keyset = keyset_from_base_key(f"paused-{key}")
    away = True
    while time.monotonic() < deadline:
        try:
            with get_client(sync_client=True) as client:
                state = client.read_flow_run(run_id).state
            if state is not None and state.is_running():
                log.info("the Prefect server is back and the run was resumed")
                return run_input_subclass_from_type(model).load(keyset)
            if state is not None and not state.is_paused():
                raise RuntimeError(f"the run left its pause as {state.type.value} while it waited for approval")
            if away:
                log.info("the Prefect server is back; the run still waits for approval")
                away = False
        except Exception as exc:   # noqa: BLE001
            if not server_away(exc):
                raise
            away = True
        time.sleep(min(AWAY_POLL_S, max(0.0, deadline - time.monotonic())))
    raise FlowPauseTimeout("Flow run was paused and never resumed.")
