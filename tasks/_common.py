"""Shared task plumbing: the transient-only retry condition and the retry schedule.

Every task decorates with ``**RETRY``. Prefect then retries a failed run only when
``transient_only`` says the error is retryable (``TransientError``, ``Waiting``, a connection error
or timeout); a ``UserError``, ``Stalled`` or any other non-retryable error fails the task at once.

Delays come from the error. Prefect 3.8 has no hook for that: ``retry_delay_seconds`` must be a
number, a list or a callable that it calls *once, at decoration time*, and the engine then takes
``delays[min(attempt, len(delays) - 1)]`` right after asking ``retry_condition_fn``. So
``transient_only`` notes the failed attempt's ``delay`` (a ``Waiting(delay=...)`` or
``TransientError(delay=...)``) in a context variable, and ``RETRY_DELAYS_S`` is a list whose items
return that delay when the error gave one, else the fixed schedule ``[1, 4, 10]``. The engine asks
both in the same thread (sync tasks) or coroutine (async tasks), one after the other, so the note is
the error just raised. ``tests/flows/test_retry_semantics.py`` checks it through real Prefect states.

Tasks that run inside the release transaction retry in their own body instead (:func:`retried_inside`,
with ``retries=0`` for Prefect): Prefect rolls back a task run's transaction on *every* failed attempt,
retried or not, and a rolled-back child rolls back its parent (``prefect.transactions.Transaction.reset``).
A ``Waiting`` from the fleet or the host on a first attempt would revert the release commit while the
retry went on, and mark the release transaction rolled back, so a real failure later reverted nothing.
"""

from __future__ import annotations

import functools
import time
from contextvars import ContextVar

from wasmops.errors import is_retryable

MAX_ERROR_DELAY_S = 300.0   # an error may not park a task longer than this (a typo, not a schedule)
_error_delay: ContextVar[float | None] = ContextVar("wasmops_retry_delay", default=None)


class DelayFromError(list):
    """A retry schedule (a ``list``, as Prefect requires) whose items are the delay the failed
    attempt's error asked for, when it asked for one.

    >>> d = DelayFromError([1, 4, 10])
    >>> d[0], d[2]
    (1, 10)
    >>> token = _error_delay.set(0.25)
    >>> d[0], d[2]
    (0.25, 0.25)
    >>> _error_delay.reset(token)
    """

    def __getitem__(self, i):
        fixed = super().__getitem__(i)
        asked = _error_delay.get()
        if asked is None or isinstance(i, slice):
            return fixed
        return min(float(asked), MAX_ERROR_DELAY_S)


FIXED_DELAYS_S = (1, 4, 10)      # seconds before retry 1, 2, 3 when the error asks for no delay
RETRY_DELAYS_S: list[float] = DelayFromError(FIXED_DELAYS_S)


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
    retry = exc is not None and is_retryable(exc)
    _error_delay.set(getattr(exc, "delay", None) if retry else None)
    return retry


RETRY = dict(retries=3, retry_delay_seconds=RETRY_DELAYS_S, retry_condition_fn=transient_only)


_attempt: ContextVar[tuple[int, int]] = ContextVar("wasmops_attempt", default=(1, 1))


def attempt() -> tuple[int, int]:
    """``(this attempt, all attempts)`` of the :func:`retried_inside` task running now; ``(1, 1)`` outside one."""
    return _attempt.get()


def retried_inside(fn):
    """Run ``fn`` up to ``RETRY['retries'] + 1`` times in one task run: again after an error that
    ``is_retryable`` says may pass (after the delay it asks for, else the fixed schedule); any other
    error, or the last attempt's, is raised. Decorate under ``@task(...)`` without Prefect retries.

    >>> from wasmops.errors import Waiting
    >>> calls = []
    >>> @retried_inside
    ... def flaky():
    ...     calls.append(attempt())
    ...     if len(calls) < 3:
    ...         raise Waiting("not yet", delay=0.0)
    ...     return "done"
    >>> flaky(), calls
    ('done', [(1, 4), (2, 4), (3, 4)])
    """
    attempts = RETRY["retries"] + 1

    @functools.wraps(fn)
    def run(*args, **kwargs):
        for i in range(1, attempts + 1):
            token = _attempt.set((i, attempts))
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if i == attempts or not is_retryable(exc):
                    raise
                asked = getattr(exc, "delay", None)
                delay = min(float(asked), MAX_ERROR_DELAY_S) if asked is not None else \
                    FIXED_DELAYS_S[min(i - 1, len(FIXED_DELAYS_S) - 1)]
                warn(f"{fn.__name__}: attempt {i} of {attempts} failed ({type(exc).__name__}: {exc}); "
                      f"again in {delay:g}s")
            finally:
                _attempt.reset(token)
            time.sleep(delay)
    return run


def warn(message: str) -> None:
    """A warning in the task or flow run's log (the plain logger outside one)."""
    import logging

    try:
        from prefect import get_run_logger

        get_run_logger().warning(message)
    except Exception:  # noqa: BLE001 - no run context (called as .fn, or in a doctest)
        logging.getLogger("wasmops.tasks").warning(message)
