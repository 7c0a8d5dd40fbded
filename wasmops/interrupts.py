"""Ctrl-C that is never lost.

Python runs a signal's handler at the next bytecode of the main thread, wherever that is. When
that happens inside a finalizer (an object's ``__del__`` run by the garbage collector, a weakref
callback), the ``KeyboardInterrupt`` it raises cannot propagate: Python reports it as "Exception
ignored in ..." and carries on. GitPython's ``Repo.__del__`` waits on its ``git cat-file``
children, so a Ctrl-C during a release landed there now and then, and the release went on waiting
for approval as if nothing had been pressed (found by dumping the hung process's stacks).

:func:`keep_interrupts` makes such an interrupt wait until the finalizer has returned:

* the SIGINT handler raises ``KeyboardInterrupt`` as Python's own does, except inside a
  ``__del__``, where it sends SIGINT to the main thread again a moment later instead;
* a ``KeyboardInterrupt`` that reaches ``sys.unraisablehook`` anyway (a weakref or GC callback) is
  re-sent the same way. Every other unraisable exception goes to the hook that was there before.

The re-sent signal meets the same handler, so it is deferred again while the main thread is still
inside a finalizer, and raised at the first point where it can propagate.

SIGTERM during a flow run is Prefect's: its handler raises ``TerminationSignal`` (a BaseException
carrying the signal number), and one raised in a finalizer was swallowed the same way, so a
``kill`` of a release went unheard. The hook re-sends that signal too (recognised by its class name
and ``signal`` attribute: the core imports no Prefect).
"""

from __future__ import annotations

import signal
import sys
import threading

#: How long a deferred interrupt waits before it is sent again (the finalizer is usually done).
RESEND_S = 0.05


def _resend(signum: int) -> None:
    """SIGINT to the main thread from a timer thread: it wakes a sleep there, as a terminal's would."""
    def send() -> None:
        main = threading.main_thread()
        if main.is_alive() and main.ident is not None:
            signal.pthread_kill(main.ident, signum)
    timer = threading.Timer(RESEND_S, send)
    timer.daemon = True
    timer.start()


def _inside_finalizer(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


def _handler(signum, frame) -> None:
    if _inside_finalizer(frame):
        _resend(signum)
        return
    raise KeyboardInterrupt


def keep_interrupts() -> None:
    """Install the handler and the hook (idempotent; leaves a handler someone else set alone)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _handler)
    if getattr(sys.unraisablehook, "_wasmops_keeps_interrupts", False):
        return
    previous = sys.unraisablehook

    def hook(unraisable) -> None:
        signum = _signal_of(unraisable.exc_value)
        if signum is not None:
            _resend(signum)
            return
        previous(unraisable)

    hook._wasmops_keeps_interrupts = True   # type: ignore[attr-defined]
    sys.unraisablehook = hook


def _signal_of(exc: BaseException | None) -> int | None:
    """The signal an exception stands for: SIGINT for ``KeyboardInterrupt``, the number a Prefect
    ``TerminationSignal`` carries; None for anything else.

    >>> class TerminationSignal(BaseException):
    ...     def __init__(self, signal): self.signal = signal
    >>> _signal_of(KeyboardInterrupt()) == signal.SIGINT, _signal_of(TerminationSignal(15)), _signal_of(ValueError())
    (True, 15, None)
    """
    if isinstance(exc, KeyboardInterrupt):
        return signal.SIGINT
    if type(exc).__name__ == "TerminationSignal" and isinstance(getattr(exc, "signal", None), int):
        return exc.signal
    return None
