"""flows/_concurrency.module_lock against a real Prefect server: flow runs of one module are serialized,
flow runs of different modules are not, and the limit is created on first use with one slot."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from prefect import flow

from flows._concurrency import limit_name, module_lock
from wasmops.errors import UserError

# What the flow runs below share with the test (threading objects cannot be flow parameters).
GATES: dict[str, threading.Event] = {}
ENTERED: dict[str, threading.Event] = {}
INSIDE = {"now": 0, "max": 0}
ORDER: list[str] = []
_mu = threading.Lock()


@flow(name="hold-module-lock", validate_parameters=False, persist_result=False)
def hold(namespace: str, name: str, who: str, timeout_seconds: float | None = None) -> str:
    try:
        with module_lock(namespace, name, timeout_seconds=timeout_seconds):
            with _mu:
                INSIDE["now"] += 1
                INSIDE["max"] = max(INSIDE["max"], INSIDE["now"])
                ORDER.append(who)
            ENTERED[who].set()
            try:
                assert GATES[who].wait(120), f"{who}: the test never opened its gate"
            finally:
                with _mu:
                    INSIDE["now"] -= 1
        return "ran"
    except TimeoutError:
        return "timed out"


def _start(pool, ns, name, who, timeout_seconds=None, gate_open=False):
    GATES[who], ENTERED[who] = threading.Event(), threading.Event()
    if gate_open:
        GATES[who].set()
    return pool.submit(hold, ns, name, who, timeout_seconds)


def test_releases_of_one_module_are_serialized_and_of_two_modules_are_not(prefect_api):
    from prefect.client.orchestration import get_client

    ns, mod, other = "lock", f"m-{uuid.uuid4().hex[:8]}", f"o-{uuid.uuid4().hex[:8]}"
    INSIDE.update(now=0, max=0)
    ORDER.clear()
    with ThreadPoolExecutor(4) as pool:
        a = _start(pool, ns, mod, "A")
        assert ENTERED["A"].wait(120), "A never got the slot"
        # While A holds the slot: the same module times out, another module gets its own slot at once.
        assert _start(pool, ns, mod, "probe", timeout_seconds=2, gate_open=True).result(120) == "timed out"
        assert not ENTERED["probe"].is_set()
        assert _start(pool, ns, other, "C", gate_open=True).result(120) == "ran"
        b = _start(pool, ns, mod, "B")                   # waits for A's slot
        GATES["A"].set()
        assert a.result(120) == "ran"
        assert ENTERED["B"].wait(120), "B never got the slot after A released it"
        GATES["B"].set()
        assert b.result(120) == "ran"
    assert ORDER == ["A", "C", "B"]
    with get_client(sync_client=True) as client:
        lim = client.read_global_concurrency_limit_by_name(limit_name(ns, mod))
    assert lim.limit == 1 and lim.active_slots == 0


def test_two_flow_runs_of_one_module_never_overlap(prefect_api):
    ns, mod = "lock", f"race-{uuid.uuid4().hex[:8]}"
    INSIDE.update(now=0, max=0)
    ORDER.clear()
    with ThreadPoolExecutor(2) as pool:
        runs = [_start(pool, ns, mod, who, gate_open=True) for who in ("X", "Y")]   # both race for the new limit
        assert [r.result(120) for r in runs] == ["ran", "ran"]
    assert INSIDE["max"] == 1 and sorted(ORDER) == ["X", "Y"]


@pytest.mark.parametrize("ns, name", [("dev", "a/b"), ("", "x"), ("dev", "50%"), ("a:b", "c")])
def test_names_that_cannot_name_a_limit_are_refused(ns, name):
    with pytest.raises(UserError, match="cannot name a concurrency limit"):
        limit_name(ns, name)


def test_a_holder_killed_on_this_machine_does_not_block_the_next_release(prefect_api, tmp_path):
    """kill -9 of a release that holds the slot: its lease would live on for lease_duration; its note
    (pid, lease) lets the next release of the module free it at once."""
    import os
    import signal
    import subprocess
    import sys
    import textwrap

    ns, mod = "lock", f"dead-{uuid.uuid4().hex[:8]}"
    notes = tmp_path / "locks"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from flows._concurrency import module_lock
        with module_lock({ns!r}, {mod!r}, notes_dir=Path({str(notes)!r})):
            print("held", flush=True)
            sys.stdin.read()                      # holds until killed
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PREFECT_API_URL": prefect_api})
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(TimeoutError):          # a live holder is waited for
            with module_lock(ns, mod, timeout_seconds=1, notes_dir=notes):
                pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
        with module_lock(ns, mod, timeout_seconds=30, notes_dir=notes) as lock:   # lease_duration is 300 s
            assert lock == limit_name(ns, mod)
    finally:
        holder.kill()
    assert not list(notes.glob("*.json"))


def test_a_slot_whose_lease_died_with_the_server_is_freed_by_the_next_up(prefect_api):
    """A Prefect server keeps leases in memory: after `down`/`up` mid-release the slot stayed counted
    with no lease to expire, and every later release of the module blocked silently."""
    from prefect.client.orchestration import get_client

    from flows._concurrency import ensure_limit, reset_orphaned_locks

    ns, mod = "orphan", f"m-{uuid.uuid4().hex[:8]}"
    lock = limit_name(ns, mod)
    ensure_limit(lock)
    with get_client(sync_client=True) as client:          # a slot counted, its lease gone (a restarted server)
        client.increment_concurrency_slots(names=[lock], slots=1, mode="concurrency")
    with pytest.raises(TimeoutError):
        with module_lock(ns, mod, timeout_seconds=1):
            pass
    assert reset_orphaned_locks(prefix=f"release:{ns}:") == [lock]
    with module_lock(ns, mod, timeout_seconds=10) as got:
        assert got == lock
