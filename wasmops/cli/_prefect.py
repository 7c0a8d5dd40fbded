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
