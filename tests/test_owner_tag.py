"""Owner tags of flow runs (flows/_owner.py): a run is crashed only when its process is known to be gone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from hypothesis import given, strategies as st

from flows._owner import PREFIX, dead_owner, owner_tag, public_tags


def test_this_process_is_alive():
    assert dead_owner(owner_tag()) is None


def test_a_process_that_exited_is_gone():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    tag = owner_tag(p.pid)          # while it lives: its start time is readable
    p.wait()
    assert dead_owner(tag) == f"process {p.pid} on {socket.gethostname()}"


def test_a_reused_pid_is_another_process():
    """Same pid, another start time: the owner is gone even though the pid is alive."""
    host_boot_pid, _start = owner_tag().rsplit(":", 1)
    assert dead_owner(f"{host_boot_pid}:1") == f"process {os.getpid()} on {socket.gethostname()}"


def test_another_machine_or_boot_is_left_alone():
    _, boot, pid, start = owner_tag()[len(PREFIX):].rsplit(":", 3)
    assert dead_owner(f"{PREFIX}elsewhere.example:{boot}:99999999:1") is None
    assert dead_owner(f"{PREFIX}{socket.gethostname()}:another-boot:{pid}:{start}") is None


@given(st.text(max_size=60))
def test_any_tag_is_read_without_error(tag):
    assert dead_owner(tag) is None or dead_owner(tag).startswith("process ")
    assert dead_owner(PREFIX + tag) is None or dead_owner(PREFIX + tag).startswith("process ")


def test_public_tags_leave_the_owner_out():
    assert public_tags(["team:a", owner_tag(), "env:dev"]) == ["team:a", "env:dev"]
    assert public_tags(None) == []
