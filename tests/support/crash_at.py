"""Fault injection for the kill -9 tests, kept out of production code.

``python tests/support/crash_at.py STEP ARGS...`` runs ``wasmops ARGS...`` in this process with the
release task named STEP (``commit``, ``reconcile``, ``verify``, ...) wrapped so that it SIGKILLs
the process the moment it starts, as a crash at that step would. Nothing in ``wasmops/``, ``tasks/``
or ``flows/`` knows about it: the wrapper replaces the task's function on the shared Prefect task
object, which every flow calls.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path, where tests/support/prefect.py
# would shadow the real Prefect.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def arm(step: str) -> None:
    """Make the release task named ``step`` kill this process when it starts."""
    import tasks.release as release_tasks
    from prefect import Task

    found = [t for t in vars(release_tasks).values() if isinstance(t, Task) and t.name == step]
    if not found:
        raise SystemExit(f"crash_at: no release task named {step!r}")
    for task in found:
        original = task.fn

        @functools.wraps(original)
        def crash(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)

        task.fn = crash


if __name__ == "__main__":
    arm(sys.argv[1])
    from wasmops.cli import main

    sys.argv = ["wasmops", *sys.argv[2:]]
    sys.exit(main())
