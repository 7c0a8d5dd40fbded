"""A release stopped before its flow's body ran is on record too.

``wasmops release`` prints "releasing ..." and then, without ``wasmops up``, starts its own Prefect
server and creates the flow run: seconds (6-7 s on a shared 2-core machine) in which nothing else is
printed, the moment a person sees a wrong target and presses Ctrl-C. The flow records an interrupt
(``flows._interrupted``) only once its body runs, so until 2026-12-07 a Ctrl-C there left no decision
record although the CLI pointed at one, and a SIGTERM there ended the CLI at once (Python's default)
with no word and no record.

:func:`recorded_if_stopped_before_the_flow` wraps that window. A SIGINT, or a SIGTERM (turned into
:class:`Terminated` until Prefect installs its own handler), that ends the release before its body
ran (:func:`wasmops.release.interrupted.watched`) writes one record of kind ``release``, verdict
``interrupted``, step ``starting``, "nothing to roll back", and the interrupt goes on as it came
(exit 130; a SIGTERM ends the process as a SIGTERM does). A stop inside the body is the flow's to
record, and Prefect's handler, which re-sends SIGTERM to the handler it found, gets the default here.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from typing import Iterator

STEP = "starting"


class Terminated(KeyboardInterrupt):
    """SIGTERM before the release's flow body ran."""

    signal = signal.SIGTERM


@contextmanager
def recorded_if_stopped_before_the_flow(s, key: str) -> Iterator[None]:
    from wasmops.interrupts import _inside_finalizer, _resend
    from wasmops.release.interrupted import watched

    def on_term(signum, frame) -> None:
        if watched(key):                 # the body ran (it recorded): what a SIGTERM does by default
            _die_by(signum)
        if _inside_finalizer(frame):     # it could not propagate from there (wasmops.interrupts)
            _resend(signum)
            return
        raise Terminated

    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    if main and previous == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    except KeyboardInterrupt as exc:
        signum = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
        if not watched(key):
            _record(s, key, signum)
        if isinstance(exc, Terminated):
            _die_by(signum)
        raise
    finally:
        if main and previous == signal.SIG_DFL and signal.getsignal(signal.SIGTERM) is on_term:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _die_by(signum: int) -> None:
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _actor() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry (containers): an unnamed releaser, as the flow says
        return "unknown"


def _record(s, key: str, signum: int) -> None:
    from wasmops.gitops.decisions import record
    from wasmops.release.interrupted import Trail, git_pinned_digest, interrupted_record

    from ._ui import err_console

    try:
        git_now = git_pinned_digest(s, key)
        d = interrupted_record(Trail(key, {"previous_digest": git_now}), signum=signum, step=STEP, actor=_actor(),
                               git_now=git_now)
        record(s.gitops_dir, d)
        err_console().print(f"  recorded {d.id}: {d.explanation}", highlight=False, soft_wrap=True)
    except Exception as err:  # noqa: BLE001 - the interrupt goes on; the record's absence is said
        err_console().print(f"  could not record the interrupted release of {key}: {err}", highlight=False,
                            soft_wrap=True)
