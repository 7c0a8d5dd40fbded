"""Flow runs started by a ``wasmops`` command carry the identity of its process; a run whose process
died without reporting (SIGKILL, the OOM killer, a closed laptop lid on a remote shell) is marked
Crashed by the next command that looks.

The CLI runs flows in its own process. Killed outright, it reports nothing, and its run stayed
Running in the Prefect UI for good, or Paused: ``wasmops approvals`` then offered an approval that
nothing would ever act on. Prefect's own zombie detection (no heartbeat for 90 s) is not used: it
would also crash a release that waits for an approval through a Prefect server restart, which
``flows/_pause.py`` keeps alive on purpose. Here a run is crashed only when its process is known to
be gone: same machine, same boot, and no process with that pid and start time. A run started on
another machine or before a reboot is left alone (nothing can be known of its process)::

    with owned():
        release_flow(...)          # the flow run is tagged wasmops-process:<host>:<boot>:<pid>:<start>
    reap()                         # later, in any wasmops command: dead owners' runs → Crashed
"""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager

from wasmops.procs import boot_id, pid_alive, start_ticks

PREFIX = "wasmops-process:"
#: States a run of a dead process can be left in.
LIVE_STATES = ["Running", "Pending", "Paused", "Suspended"]


def owner_tag(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{PREFIX}{socket.gethostname()}:{boot_id()}:{pid}:{start_ticks(pid)}"


def dead_owner(tag: str) -> str | None:
    """``process PID on HOST`` when ``tag`` names a process of this machine and boot that is gone;
    None when it is alive, elsewhere, or ``tag`` is not an owner tag."""
    if not tag.startswith(PREFIX):
        return None
    parts = tag[len(PREFIX):].rsplit(":", 3)
    if len(parts) != 4 or not parts[2].isdigit():
        return None
    host, boot, pid, start = parts
    if host != socket.gethostname() or not boot or boot != boot_id():
        return None
    if pid_alive(int(pid)) and str(start_ticks(int(pid))) == start:
        return None
    return f"process {pid} on {host}"


def owner_unknown(tags) -> str | None:
    """A note for a run with no owner tag: a wasmops from before 2026-12-07 (9b5d9cb) started it and did
    not record its process, so ``reap`` cannot tell whether that process is alive. Such a run left
    Paused by a release killed before an upgrade is listed by ``approvals`` and takes an answer that
    nothing will act on, while its manifest's awaiting-approval mark keeps reconcilers off the module."""
    if any(str(t).startswith(PREFIX) for t in tags or []):
        return None
    return ("started by a wasmops older than 2026-12-07, which did not record its process: if the "
            "`wasmops release` that started it is no longer running (killed, or stopped for an upgrade), "
            "nothing will act on an answer and its manifest stays marked awaiting approval; "
            "`wasmops release` the module again: its commit replaces the mark")


def public_tags(tags) -> list[str]:
    """Tags as people read them: the owner tag left out."""
    return [t for t in tags or [] if not t.startswith(PREFIX)]


@contextmanager
def owned():
    """Flow runs created inside carry this process's owner tag."""
    from prefect import tags

    with tags(owner_tag()):
        yield


def reap() -> list[dict]:
    """Mark Crashed every unfinished flow run whose owner process is gone; returns ``{id, name, why}``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateName
    from prefect.states import Crashed

    out = []
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(name=FlowRunFilterStateName(any_=LIVE_STATES))), limit=200)   # the API's most
        for r in runs:
            gone = next((w for w in map(dead_owner, r.tags or []) if w), None)
            if gone is None:
                continue
            why = (f"the wasmops command that ran it ({gone}) ended without reporting (killed?); "
                   f"it was {r.state.name if r.state else 'unfinished'}")
            client.set_flow_run_state(r.id, Crashed(message=why), force=True)
            out.append({"id": str(r.id), "name": r.name, "why": why})
    return out
