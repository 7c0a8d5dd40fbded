"""Ctrl-C that lands in a finalizer is raised once the finalizer returns, not ignored.

The release's hang after Ctrl-C (waiting for approval as if nothing had been pressed) was a
``KeyboardInterrupt`` raised inside GitPython's ``Repo.__del__`` and swallowed by Python. Here a
program written for the test has the signal arrive inside its own finalizers, a ``__del__`` and a
weakref callback, and then waits; it must end by the interrupt. Without ``keep_interrupts`` it
prints "survived" and waits out its two minutes.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

PROGRAM = textwrap.dedent("""\
    import os, signal, sys, time, weakref
    from wasmops.interrupts import keep_interrupts

    # as a terminal's foreground command has it, even when this test runs in a background job (which
    # ignores SIGINT, and passes that on: tests/ops/test_interrupt_without_up.py)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    keep_interrupts()

    class Obj:
        def __del__(self):
            if sys.argv[1] == "del":
                os.kill(os.getpid(), signal.SIGINT)
                sum(range(200_000))               # bytecode: the handler runs here, inside __del__

    def callback(_ref):
        os.kill(os.getpid(), signal.SIGINT)
        sum(range(200_000))

    o = Obj()
    if sys.argv[1] == "weakref":
        ref = weakref.ref(o, callback)
    del o
    print("survived the finalizer", flush=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.5)
    print("never interrupted", flush=True)
""")


@pytest.mark.parametrize("where", ["del", "weakref"])
def test_interrupt_in_a_finalizer_is_raised_after_it(tmp_path, where):
    script = tmp_path / "prog.py"
    script.write_text(PROGRAM)
    proc = subprocess.run([sys.executable, str(script), where], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGINT, (proc.stdout, proc.stderr)
    assert "KeyboardInterrupt" in proc.stderr
    assert "never interrupted" not in proc.stdout


def test_a_handler_someone_else_set_is_left_alone():
    from wasmops.interrupts import keep_interrupts

    mine = signal.signal(signal.SIGINT, lambda *_: None)
    try:
        handler = signal.getsignal(signal.SIGINT)
        keep_interrupts()
        assert signal.getsignal(signal.SIGINT) is handler
    finally:
        signal.signal(signal.SIGINT, mine)


TERM_PROGRAM = textwrap.dedent("""\
    import os, signal, sys, time
    from prefect.exceptions import TerminationSignal
    from wasmops.interrupts import keep_interrupts

    def prefects(signum, frame):                  # what Prefect's SIGTERM bridge does during a flow run
        raise TerminationSignal(signum)

    signal.signal(signal.SIGTERM, prefects)
    keep_interrupts()

    class Obj:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)
            sum(range(200_000))                   # the handler runs here, inside __del__

    o = Obj()
    del o
    print("survived the finalizer", flush=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.5)
    print("never terminated", flush=True)
""")


def test_a_sigterm_swallowed_in_a_finalizer_is_sent_again(tmp_path):
    """Prefect turns SIGTERM into a ``TerminationSignal`` during a flow run; one raised in a
    ``__del__`` was lost like a Ctrl-C, and the release went on."""
    script = tmp_path / "term.py"
    script.write_text(TERM_PROGRAM)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=90)
    assert "TerminationSignal" in proc.stderr.splitlines()[-1], (proc.stdout, proc.stderr)
    assert proc.returncode == 1 and "never terminated" not in proc.stdout
