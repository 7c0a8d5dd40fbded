"""Point Prefect at the workspace before it is imported: its home, results and settings.

If ``PREFECT_API_URL`` is set (``wasmops up`` or the demo start a server), flows report there and
approvals can be answered from another shell. Otherwise Prefect runs an ephemeral API on the
workspace's SQLite database.
"""

from __future__ import annotations

import json
import os


def configure(s) -> None:
    home = s.paths.prefect_home
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(home))
    os.environ.setdefault("PREFECT_LOCAL_STORAGE_PATH", str(home / "storage"))
    os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "true")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    from ._progress import quiet_prefect_console

    quiet_prefect_console()
    os.environ.setdefault("DO_NOT_TRACK", "1")
    rec = s.paths.services_record
    if "PREFECT_API_URL" not in os.environ and rec.exists():
        url = json.loads(rec.read_text()).get("prefect_api_url")
        if url:
            os.environ["PREFECT_API_URL"] = url
    if "PREFECT_API_URL" not in os.environ:
        import flows._concurrency

        flows._concurrency.EPHEMERAL_SERVER = True
        ephemeral_server_in_own_session()


_EPHEMERAL_APP = "prefect.server.api.server:create_app"


def ephemeral_server_in_own_session() -> None:
    """Ctrl-C in a terminal signals the whole foreground process group, and Prefect's ephemeral API
    server (a uvicorn child of this process) died with it: the interrupted release could neither
    revert its commit through it nor free its module lock, hung, and every later release of the module
    waited for that lock for good. The server is started in its own session instead, so it outlives
    the Ctrl-C; Prefect still stops it when this process exits. Only that one command line is changed
    (``subprocess.Popen`` as Prefect's server module calls it; importing that module here would cost
    seconds on every command). A process killed outright (SIGKILL, the OOM killer) runs no atexit,
    and a server in its own session then lived on for good: :func:`_stop_with_me` ends it."""
    import subprocess

    if getattr(subprocess.Popen, "_wasmops_session", False):
        return
    base = subprocess.Popen

    class _Popen(base):          # type: ignore[misc, valid-type]
        _wasmops_session = True

        def __init__(self, args, *a, **kw):
            if isinstance(args, (list, tuple)) and _EPHEMERAL_APP in map(str, args):
                kw.setdefault("start_new_session", True)
                super().__init__(args, *a, **kw)
                _stop_with_me(self.pid, base)
                return
            super().__init__(args, *a, **kw)

    subprocess.Popen = _Popen    # type: ignore[misc]


_WATCHDOG = ("import os, signal, sys\nwhile sys.stdin.buffer.read(65536): pass\n"
             "try: os.killpg(int(sys.argv[1]), signal.SIGTERM)\nexcept OSError: pass\n")
_watchdogs: list = []     # the write ends of the watchdogs' pipes: open exactly as long as this process lives


def _stop_with_me(pid: int, popen) -> None:
    """A watchdog, in its own session too (Ctrl-C must not fire it), that reads a pipe whose only
    write end this process holds. However this process ends, the kernel closes that end, the read
    sees EOF, and the watchdog sends SIGTERM to the server's process group. After a normal exit
    Prefect has stopped the server already, and the signal finds nothing."""
    import subprocess
    import sys

    r, w = os.pipe()
    try:
        popen([sys.executable, "-S", "-c", _WATCHDOG, str(pid)], stdin=r,
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    finally:
        os.close(r)
    _watchdogs.append(w)
