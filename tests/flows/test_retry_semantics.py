"""Retry semantics through real Prefect states: transient errors retry, the others fail at once.

Tiny flows under the session harness (``prefect_api``); the tasks use the production ``RETRY``
with ``retry_delay_seconds=0`` so the test takes no sleeps.
"""

from __future__ import annotations

import pytest

from tasks._common import RETRY, DelayFromError, transient_only
from wasmops.errors import Stalled, TransientError, UserError, Waiting

FAST = {**RETRY, "retry_delay_seconds": 0}


def _run(raises: list[BaseException], options: dict = FAST):
    """Run a flow with one task that raises ``raises`` in turn, then returns "ok".

    Returns (the task's final state, how many times its body ran, its run_count in the API).
    """
    from prefect import flow, get_client, task
    from prefect.cache_policies import NO_CACHE
    from prefect.utilities.asyncutils import run_coro_as_sync

    calls, states = [], []

    @task(name="flaky", cache_policy=NO_CACHE, persist_result=False, **options)
    def flaky():
        calls.append(1)
        if len(calls) <= len(raises):
            raise raises[len(calls) - 1]
        return "ok"

    @flow(name="retry-semantics", persist_result=False)
    def f():
        states.append(flaky(return_state=True))  # kept aside: a returned failed state fails the flow

    f()
    state = states[0]

    async def run_count():
        async with get_client() as client:
            return (await client.read_task_run(state.state_details.task_run_id)).run_count

    return state, len(calls), run_coro_as_sync(run_count())


def test_retry_uses_transient_only_with_the_fixed_schedule():
    assert RETRY["retry_condition_fn"] is transient_only
    assert RETRY["retries"] == 3 and RETRY["retry_delay_seconds"] == [1, 4, 10]


def _retry_gaps(state) -> list[float]:
    """Seconds between each AwaitingRetry state's creation and the time it was scheduled for: the
    delay the engine chose (both instants are set together, so this holds on a busy machine)."""
    from prefect import get_client
    from prefect.utilities.asyncutils import run_coro_as_sync

    async def states():
        async with get_client() as client:
            return await client.read_task_run_states(state.state_details.task_run_id)

    return [(s.state_details.scheduled_time - s.timestamp).total_seconds()
            for s in run_coro_as_sync(states()) if s.name == "AwaitingRetry"]


def test_the_retry_delay_is_the_one_the_error_asks_for(prefect_api):
    """Production RETRY (schedule 1, 4, 10 s): a Waiting(delay=0.2) is retried 0.2 s later, not 1 s."""
    state, calls, _ = _run([Waiting("not healthy yet", delay=0.2), TransientError("busy", delay=0.05)], RETRY)
    assert state.is_completed() and calls == 3
    gaps = _retry_gaps(state)
    assert len(gaps) == 2
    assert gaps[0] == pytest.approx(0.2, abs=0.05) and gaps[1] == pytest.approx(0.05, abs=0.05)


def test_an_error_without_a_delay_keeps_the_schedule(prefect_api):
    state, calls, _ = _run([TransientError("registry busy")], {**RETRY, "retry_delay_seconds": DelayFromError([0.3])})
    assert state.is_completed() and calls == 2
    assert _retry_gaps(state) == [pytest.approx(0.3, abs=0.05)]


@pytest.mark.parametrize("exc", [TransientError("registry busy"), Waiting("not healthy yet", delay=0.5),
                                 ConnectionError("reset")], ids=["transient", "waiting", "connection"])
def test_a_transient_error_is_retried_and_then_succeeds(prefect_api, exc):
    state, calls, run_count = _run([exc])
    assert state.is_completed(), state
    assert state.result() == "ok"
    assert calls == 2 and run_count == 2


def test_retries_stop_after_the_configured_count(prefect_api):
    state, calls, run_count = _run([TransientError(f"down {i}") for i in range(10)])
    assert state.is_failed()
    assert calls == 1 + RETRY["retries"] and run_count == 1 + RETRY["retries"]
    with pytest.raises(TransientError, match="down 3"):
        state.result()


@pytest.mark.parametrize("exc", [UserError("bad input", hint="fix it"), Stalled("signature refused"),
                                 ValueError("a bug")], ids=["user", "stalled", "bug"])
def test_a_non_retryable_error_fails_at_once(prefect_api, exc):
    state, calls, run_count = _run([exc, exc])
    assert state.is_failed(), state
    assert calls == 1 and run_count == 1
    with pytest.raises(type(exc)):
        state.result()


def test_transient_only_reads_the_exception_of_a_failed_state():
    from prefect.states import Completed, Failed

    assert transient_only(None, None, Failed(data=Waiting("later", delay=3)))
    assert not transient_only(None, None, Failed(data=Stalled("a person must act")))
    assert not transient_only(None, None, Completed(data="ok"))


def test_a_task_retried_inside_a_transaction_does_not_roll_it_back_and_a_later_failure_still_does(prefect_api):
    """Prefect rolls back a task run's transaction on every failed attempt, and with it the parent's:
    so the release's tasks retry inside their run (``retried_inside``). Here a commit-like task stages a
    rollback hook, a waiting task fails twice with ``Waiting`` and then succeeds in the same task run (the
    hook must not run), then a task fails for good: the hook runs once, and only then."""
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE
    from prefect.transactions import transaction

    from tasks._common import attempt, retried_inside

    events = []

    @task(name="commit-like", cache_policy=NO_CACHE, persist_result=False)
    def commit():
        events.append("commit")

    @commit.on_rollback
    def _undo(txn):
        events.append("rolled back")

    @task(name="waits", cache_policy=NO_CACHE, persist_result=False)
    @retried_inside
    def waits():
        events.append(f"attempt {attempt()[0]}")
        if attempt()[0] < 3:
            raise Waiting("not yet", delay=0)
        return "ready"

    @task(name="fails", cache_policy=NO_CACHE, persist_result=False)
    def fails():
        events.append("fails")
        raise UserError("for good")

    @flow(name="txn-retry", persist_result=False)
    def f(fail: bool):
        with transaction():
            commit()
            waits()
            if fail:
                fails()

    f(False)
    assert events == ["commit", "attempt 1", "attempt 2", "attempt 3"]
    events.clear()
    with pytest.raises(UserError):
        f(True)
    assert events == ["commit", "attempt 1", "attempt 2", "attempt 3", "fails", "rolled back"]
