"""Releases of one module run one at a time, wherever they run: a Prefect global concurrency limit
per module, with one slot, created the first time the module is released.

Releases of different modules hold different limits and run side by side on any workers; two
releases of the same module queue on the server, so they never race on one manifest::

    with module_lock("dev", "greet-c"):        # blocks while another release of dev/greet-c holds it
        ...                                    # build … commit … reconcile

Prefect names may not contain ``/``, so the limit of ``dev/greet-c`` is ``release:dev:greet-c``.
The slot is a lease the server expires if its holder dies (``lease_duration``), renewed while held.
"""

from __future__ import annotations

import json
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from uuid import UUID

from wasmops.errors import UserError
from wasmops.procs import pid_alive

PREFIX = "release"
#: True when this process runs Prefect's ephemeral server (the CLI without `wasmops up`: cli/_prefect.py).
EPHEMERAL_SERVER = False
_BANNED = set("/%&><:")


def limit_name(namespace: str, name: str) -> str:
    """``release:NS:NAME``, the global concurrency limit of one module.

    >>> limit_name("dev", "greet-c")
    'release:dev:greet-c'
    """
    for field, value in (("namespace", namespace), ("name", name)):
        if not value or _BANNED & set(value):
            raise UserError(f"module {field} {value!r} cannot name a concurrency limit "
                            f"(empty, or one of {''.join(sorted(_BANNED))})", where=f"target {namespace}/{name}")
    return f"{PREFIX}:{namespace}:{name}"


def ensure_limit(name: str, limit: int = 1) -> None:
    """Create the global concurrency limit ``name`` with ``limit`` slots unless it exists. An existing
    limit is left as it is (an operator may have changed it on purpose)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
            return
        except ObjectNotFound:
            pass
        try:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))
        except ObjectAlreadyExists:     # another release created it at the same moment
            pass


@contextmanager
def module_lock(namespace: str, name: str, *, timeout_seconds: float | None = None,
                lease_duration: float = 300, notes_dir: Path | None = None) -> Iterator[str]:
    """Hold the one slot of ``release:NS:NAME`` for the ``with`` body (yields the limit's name).

    Waits for the slot (forever by default; ``timeout_seconds`` raises ``TimeoutError``). ``strict``
    acquisition: if the limit vanished between creation and acquisition, this raises instead of
    running unserialized. The lease is renewed while held and expires ``lease_duration`` seconds
    after its holder died; a holder that died on this machine (kill -9, power cut of a laptop) is
    known sooner: its note in ``notes_dir`` (default ``<home>/locks``) names its pid and lease, and the
    next release frees that lease at once instead of waiting for it to expire.
    """
    from prefect.concurrency._leases import maintain_concurrency_lease    # the pieces of
    from prefect.concurrency._sync import (                              # prefect.concurrency.sync
        acquire_concurrency_slots_with_lease, release_concurrency_slots_with_lease)    # (pinned in uv.lock)

    lock = limit_name(namespace, name)
    ensure_limit(lock)
    note = (notes_dir or _notes_dir()) / f"{lock.replace(':', '_')}.json"
    _free_dead_holder(note, release_concurrency_slots_with_lease, lock)
    _say_if_held(lock, f"{namespace}/{name}")
    got = acquire_concurrency_slots_with_lease([lock], 1, timeout_seconds=timeout_seconds,
                                               lease_duration=lease_duration, strict=True)
    _write_note(note, got.lease_id)
    try:
        with maintain_concurrency_lease(got.lease_id, lease_duration, raise_on_lease_renewal_failure=True):
            yield lock
    finally:
        release_concurrency_slots_with_lease(got.lease_id)   # raises if the server is gone: the note stays,
        note.unlink(missing_ok=True)                         # and the next release frees the slot by it


def _say_if_held(lock: str, key: str) -> None:
    """A release that has to wait says for what (it printed nothing and blocked)."""
    from prefect.client.orchestration import get_client

    from tasks._common import warn

    with get_client(sync_client=True) as client:
        lim = client.read_global_concurrency_limit_by_name(lock)
    if lim.active_slots >= lim.limit:
        warn(f"waiting: another release of {key} holds {lock} (`prefect gcl inspect {lock}`; a holder that "
             "died frees it within its lease, and `wasmops up` frees what a restarted server lost)")


def reset_orphaned_locks(prefix: str = PREFIX + ":") -> list[str]:
    """For a Prefect server that has just started: release locks whose slots are still counted but
    whose leases died with the previous server process (leases live in its memory), so nothing can
    ever free them (an operator's `down`/`up` during an approval wait left one held for good)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    freed = []
    with get_client(sync_client=True) as client:
        offset = 0
        while page := client.read_global_concurrency_limits(limit=200, offset=offset):
            for lim in page:
                if lim.name.startswith(prefix) and lim.active_slots > 0:
                    client.update_global_concurrency_limit(lim.name, GlobalConcurrencyLimitUpdate(active_slots=0))
                    freed.append(lim.name)
            offset += len(page)
    return freed


def _notes_dir() -> Path:
    from wasmops.config import current

    return current().paths.locks


def _write_note(note: Path, lease_id) -> None:
    note.parent.mkdir(parents=True, exist_ok=True)
    note.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "lease": str(lease_id)}))


def _free_dead_holder(note: Path, release, lock: str | None = None) -> bool:
    """Release the lease of a holder that died on this machine; True when there was one. Without
    `wasmops up` each CLI runs its own ephemeral Prefect server, which keeps leases in its memory: a
    dead holder's lease died with its server and no server can release it, so its slot is given back
    directly, as ``reset_orphaned_locks`` does for `up`. No live holder can own that slot: a live one
    would have written its own note over the dead one's."""
    try:
        rec = json.loads(note.read_text())
        pid, host, lease = int(rec["pid"]), rec["host"], UUID(rec["lease"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if host != socket.gethostname() or pid_alive(pid):
        return False
    try:
        release(lease)       # the server answers 204 to a lease it does not know: no error to go by
    except Exception:  # noqa: BLE001 - expired or released: nothing is held
        pass
    if lock and EPHEMERAL_SERVER:
        _give_back_slot(lock)     # its lease died with its own ephemeral server: nothing else can free the slot
    note.unlink(missing_ok=True)
    return True


def _give_back_slot(lock: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    with get_client(sync_client=True) as client:
        lim = client.read_global_concurrency_limit_by_name(lock)
        if lim.active_slots > 0:
            client.update_global_concurrency_limit(lock, GlobalConcurrencyLimitUpdate(
                active_slots=lim.active_slots - 1))
