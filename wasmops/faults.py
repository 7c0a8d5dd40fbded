"""Fault injection for crash tests: ``WASMOPS_FAULT_KILL_AT=<step>`` kills the process (SIGKILL)
when that release step starts. Used by the kill -9 resume test; a no-op otherwise."""

from __future__ import annotations

import os
import signal


def maybe_crash(step: str) -> None:
    if os.environ.get("WASMOPS_FAULT_KILL_AT") == step:
        os.kill(os.getpid(), signal.SIGKILL)
