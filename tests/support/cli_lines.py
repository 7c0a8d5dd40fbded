"""Running the CLI as a terminal would and reading its output line by line (the interrupt tests)."""

from __future__ import annotations

import queue
import re
import sys
import threading

#: exec the CLI with SIGINT at its default, whatever this process inherited (an ignored signal stays
#: ignored across exec; a default one stays default, and Python then installs its handler).
AS_A_TERMINAL_STARTS_IT = [sys.executable, "-c", "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                           "os.execv(sys.argv[1], sys.argv[1:])"]


def lines(proc) -> queue.Queue:
    """``proc``'s stdout lines on a queue, then None at its end (read by a daemon thread)."""
    q: queue.Queue = queue.Queue()

    def read():
        for line in proc.stdout:
            q.put(line)
        q.put(None)
    threading.Thread(target=read, daemon=True).start()
    return q


def until(q: queue.Queue, pattern: str, seen: list[str], timeout: float = 300) -> None:
    """Take lines (kept in ``seen``) until one matches ``pattern``; the output's end first fails."""
    while (line := q.get(timeout=timeout)) is not None:
        seen.append(line)
        if re.search(pattern, line):
            return
    raise AssertionError(f"ended before {pattern!r}:\n{''.join(seen)}")
