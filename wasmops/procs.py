"""Processes on this machine.

    >>> import os
    >>> pid_alive(os.getpid()), pid_alive(2 ** 22 + 1)
    (True, False)
"""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie. A process of another user (no right to
    signal it) counts as alive: nothing it holds may be taken from it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # an exited child not yet reaped is gone for every purpose here
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True
