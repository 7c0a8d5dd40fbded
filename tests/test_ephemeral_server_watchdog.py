"""The CLI's ephemeral Prefect server ends with the CLI, however the CLI ends.

That server runs in its own session so a terminal's Ctrl-C does not kill it under a release that is
reverting; a CLI killed outright (SIGKILL) runs no atexit, and the server lived on for good (three
were left behind by one afternoon's interrupted releases, 230 MB each). Here a stand-in for the
server (a sleeping process with the server's app name in its command line, the one thing the CLI
looks at) is started through the same ``subprocess.Popen`` the CLI patches, the starting process is
SIGKILLed, and the stand-in must go. Waits are on the processes, not on time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

STARTER = textwrap.dedent("""\
    import subprocess, sys, time
    from wasmops.cli._prefect import ephemeral_server_in_own_session, _EPHEMERAL_APP

    ephemeral_server_in_own_session()
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", _EPHEMERAL_APP])
    print(server.pid, flush=True)
    time.sleep(600)
""")


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1].startswith("Z")
    except FileNotFoundError:
        return True


def _wait_gone(pid: int, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return False


def test_a_sigkilled_cli_takes_its_ephemeral_server_with_it(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", STARTER], stdout=subprocess.PIPE, text=True)
    server = int(proc.stdout.readline())
    try:
        assert os.getpgid(server) == server           # its own session: a terminal's Ctrl-C does not reach it
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert _wait_gone(server), "the server outlived the CLI"
    finally:
        if not _gone(server):
            os.kill(server, signal.SIGKILL)


def test_the_server_survives_a_ctrl_c_to_the_cli_group(tmp_path):
    """SIGINT to the CLI's process group (a terminal's Ctrl-C) must leave the server alone while the
    CLI lives: the interrupted release reverts through it."""
    starter = STARTER.replace("ephemeral_server_in_own_session()\n",
                              "ephemeral_server_in_own_session()\n"
                              "import signal\n"
                              "signal.signal(signal.SIGINT, lambda *_: print('interrupted', flush=True))\n")
    proc = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE, text=True, start_new_session=True)
    server = int(proc.stdout.readline())          # printed after the handler is installed
    try:
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.stdout.readline().strip() == "interrupted"
        assert not _gone(server)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        assert _wait_gone(server)
