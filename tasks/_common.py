"""Shared task plumbing: the transient-only retry condition and result persistence."""

from __future__ import annotations

from wasmops.errors import is_retryable


def transient_only(task, task_run, state) -> bool:
    """``retry_condition_fn``: retry only errors that say retrying can help."""
    exc = state.data if isinstance(getattr(state, "data", None), BaseException) else None
    if exc is None:
        try:
            state.result(raise_on_failure=True)
        except BaseException as e:  # noqa: BLE001 - we only inspect it
            exc = e
    return exc is not None and is_retryable(exc)


RETRY = dict(retries=3, retry_delay_seconds=[1, 4, 10], retry_condition_fn=transient_only)
