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

from contextlib import contextmanager
from typing import Iterator

PREFIX = "release"
_BANNED = set("/%&><:")


def limit_name(namespace: str, name: str) -> str:
    """``release:NS:NAME``, the global concurrency limit of one module.

    >>> limit_name("dev", "greet-c")
    'release:dev:greet-c'
    """
    for field, value in (("namespace", namespace), ("name", name)):
        if not value or _BANNED & set(value):
            raise ValueError(f"module {field} {value!r} cannot name a concurrency limit "
                             f"(empty, or one of {''.join(sorted(_BANNED))})")
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
                lease_duration: float = 300) -> Iterator[str]:
    """Hold the one slot of ``release:NS:NAME`` for the ``with`` body (yields the limit's name).

    Waits for the slot (forever by default; ``timeout_seconds`` raises ``TimeoutError``). ``strict``
    acquisition: if the limit vanished between creation and acquisition, this raises instead of
    running unserialized.
    """
    from prefect.concurrency.sync import concurrency

    lock = limit_name(namespace, name)
    ensure_limit(lock)
    with concurrency(lock, occupy=1, timeout_seconds=timeout_seconds, lease_duration=lease_duration, strict=True):
        yield lock
