"""Processes on this machine.

    >>> import os
    >>> pid_alive(os.getpid()), pid_alive(2 ** 22 + 1)
    (True, False)
"""

from __future__ import annotations

import os
import signal
import time


def boot_id() -> str:
    """This boot of this machine (``/proc/sys/kernel/random/boot_id``; "" where there is none): a pid
    names one process only within one boot."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def start_ticks(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, ``/proc/<pid>/stat`` field 22), or None
    when there is no such process: with the pid it names one process, even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(") ", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


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


def start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, /proc/PID/stat field 22), or None. With the
    pid it names one process for good: a recorded pid that the system gave to another process since
    has another start time.

    >>> start_time(os.getpid()) == start_time(os.getpid()) is not None
    True
    """
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(") ", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def same_process(pid: int, started: int | None) -> bool:
    """``pid`` is alive and is the process recorded with ``started`` (None: not recorded, trust the pid)."""
    return pid_alive(pid) and (started is None or start_time(pid) in (started, None))


def terminate_group(pid: int, timeout: float) -> None:
    """SIGTERM the process group, then SIGKILL what ignores it (uvicorn children, mlflow workers)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done == pid:
                    return
            except ChildProcessError:
                if not pid_alive(pid):
                    return
            time.sleep(0.1)
