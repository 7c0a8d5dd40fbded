"""Pool runs are lowered only where they can be raised back (sched.py, ``can_raise_back``): without
CAP_SYS_NICE a thread lowered to nice 19 once stays there, and every later run on it, a slow
well-behaved module's too, would run at nice 19 (the starvation fixed in test_sched_neighbours).
Checked in a real unprivileged process (user nobody, via util-linux ``setpriv`` when the tests run
as root), with the real kernel refusing or allowing the raise."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CODE = r"""
import logging, os, threading
logging.basicConfig(level=logging.WARNING, format="%(message)s")
from wasmops.host.sched import Scheduler, can_raise_back
s = Scheduler(2, nice=19)
tid = threading.get_native_id()
try:
    os.setpriority(os.PRIO_PROCESS, tid, s.base + 5)
    os.setpriority(os.PRIO_PROCESS, tid, s.base)
    kernel = "raise ok"
except PermissionError:
    kernel = "raise refused"
print(f"base={s.base} nice={s.nice} can={can_raise_back(s.base)} kernel={kernel!r}")
s.shutdown()
"""


def _run(drop: bool) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", CODE]
    if drop and os.geteuid() == 0:  # as nobody, without CAP_SYS_NICE and with RLIMIT_NICE 0
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", *cmd]
    return subprocess.run(cmd, cwd="/", env=env, capture_output=True, text=True, timeout=120,
                          preexec_fn=(lambda: resource.setrlimit(resource.RLIMIT_NICE, (0, 0))) if drop else None)


@pytest.mark.parametrize("drop", [True, False], ids=["unprivileged", "as-is"])
def test_the_pool_is_lowered_only_where_the_kernel_lets_it_be_raised_back(drop):
    p = _run(drop)
    assert p.returncode == 0, p.stderr
    line = p.stdout.strip()
    base = int(line.split()[0].split("=")[1])
    if "raise refused" in line:     # the kernel says so: lowering must be off, and said
        assert f"nice={base} can=False" in line, line
        assert "pool runs are not lowered" in p.stderr and "CAP_SYS_NICE" in p.stderr, p.stderr
    else:
        assert "nice=19 can=True" in line, line
        assert "not lowered" not in p.stderr
    if os.geteuid() == 0 and _cap_sys_nice():
        assert ("raise refused" in line) == drop, line      # as root with CAP_SYS_NICE: both outcomes


def _cap_sys_nice() -> bool:
    caps = next(ln.split()[1] for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith("CapEff:"))
    return bool(int(caps, 16) >> 23 & 1)
