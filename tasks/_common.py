"""Shared task plumbing: the transient-only retry condition and the retry schedule.

Every task decorates with ``**RETRY``. Prefect then retries a failed run only when
``transient_only`` says the error is retryable (``TransientError``, ``Waiting``, a connection error
or timeout); a ``UserError``, ``Stalled`` or any other non-retryable error fails the task at once.

Delays: Prefect 3.8 cannot take the delay from the error. ``retry_delay_seconds`` is an int, a
float, a list, or a callable that Prefect calls *once, at decoration time, with the number of
retries* (``prefect.tasks.exponential_backoff``); the engine then picks
``delays[min(attempt, len(delays) - 1)]`` without looking at the exception, and
``retry_condition_fn`` can only answer yes or no. So ``RETRY`` keeps the fixed schedule
``RETRY_DELAYS_S``, sized for the ``Waiting`` delays wasmops raises (a few seconds), and the error's
own ``delay`` is shown to people (``WasmopsError.diagnostics()``) and honoured by callers that retry
outside Prefect.
"""

from __future__ import annotations

from wasmops.errors import is_retryable

RETRY_DELAYS_S: list[float] = [1, 4, 10]


def transient_only(task, task_run, state) -> bool:
    """``retry_condition_fn``: retry only errors that say retrying can help.

    Must stay a plain function: Prefect 3.8 calls it only if ``inspect.isfunction`` (or a coroutine
    function) holds, and treats anything else (a ``functools.partial``) as "never retry".
    The engine passes ``Failed(data=exc)`` for a raised exception; a returned failed state is
    unwrapped with ``state.result()``.
    """
    exc = state.data if isinstance(getattr(state, "data", None), BaseException) else None
    if exc is None:
        try:
            state.result(raise_on_failure=True)
        except BaseException as e:  # noqa: BLE001 - we only inspect it
            exc = e
    return exc is not None and is_retryable(exc)


RETRY = dict(retries=3, retry_delay_seconds=RETRY_DELAYS_S, retry_condition_fn=transient_only)
