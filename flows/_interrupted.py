"""An interrupted release leaves a decision record (``wasmops.release.interrupted``).

:func:`recorded_if_interrupted` wraps the release's body. On ``KeyboardInterrupt`` (SIGINT, Ctrl-C)
or Prefect's ``TerminationSignal`` (SIGTERM) the release transaction has already rolled back (its
``with`` block is inside), so the record can say what was undone; it is written, and the interrupt
goes on as it came (exit 130, or Prefect's re-sent SIGTERM). Writing it never replaces the interrupt:
a failure to record is logged, and a second Ctrl-C while it is written ends the wait for it.

The step is read from the interrupt's traceback: the innermost frame that runs a Prefect task or
flow of this project (its name: ``build``, ``commit``, ``canary-step``, ``ai-check``...) or the
approval wait; "between steps" when it landed in the flow's own code.
"""

from __future__ import annotations

import inspect
import signal
import sys
from contextlib import contextmanager
from typing import Iterator

from prefect.exceptions import TerminationSignal

from wasmops.release.interrupted import Trail, git_pinned_digest, interrupted_record, watch

#: Plain functions (not Prefect tasks) where a release waits for a person.
_WAITS = {("flows._approval", "request_approval"): "approval",
          ("flows._rollback_approval", "confirm_rollback"): "rollback-approval"}
#: The flow that records (its own frame is in every traceback it catches: not a step).
_OUTER = "release"


@contextmanager
def recorded_if_interrupted(key: str, actor: str) -> Iterator[Trail]:
    with watch(key) as trail:
        try:
            yield trail
        except (KeyboardInterrupt, TerminationSignal) as exc:
            signum = getattr(exc, "signal", signal.SIGINT)
            _record(trail, exc, signum, actor)
            raise


def _record(trail: Trail, exc: BaseException, signum: int, actor: str) -> None:
    from prefect import get_run_logger
    from prefect.runtime import flow_run

    from wasmops.config import current
    from wasmops.gitops.decisions import record

    log = get_run_logger()
    try:
        s = current()
        d = interrupted_record(trail, signum=signum, step=step_at(exc), actor=actor,
                               git_now=git_pinned_digest(s, trail.key), flow_run_id=str(flow_run.get_id() or ""))
        record(s.gitops_dir, d)
        log.warning(f"recorded {d.id}: {d.explanation}")
    except Exception as err:  # noqa: BLE001 - the interrupt goes on; the record's absence is said
        log.error(f"could not record the interrupted release of {trail.key}: {err}")


def step_at(exc: BaseException) -> str:
    """The innermost task, flow or wait of this project the interrupt's traceback passes through."""
    names = _step_names()
    step, tb = "between steps", exc.__traceback__
    while tb is not None:
        step = names.get(tb.tb_frame.f_code, step)
        tb = tb.tb_next
    return step


def _step_names() -> dict:
    """Code object → step name, for the Prefect tasks and flows of ``tasks`` and ``flows`` loaded now."""
    from prefect import Flow, Task

    out = {}
    for modname, mod in list(sys.modules.items()):
        if mod is None or modname.partition(".")[0] not in ("tasks", "flows"):
            continue
        for obj in list(vars(mod).values()):
            if isinstance(obj, Task) or (isinstance(obj, Flow) and obj.name != _OUTER):
                out[inspect.unwrap(obj.fn).__code__] = obj.name
        for (m, fn), name in _WAITS.items():
            if modname == m and callable(getattr(mod, fn, None)):
                out[inspect.unwrap(getattr(mod, fn)).__code__] = name
    return out
