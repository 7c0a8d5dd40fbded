"""`wasmops worker`: join a Prefect process work pool (created if absent) on this machine.

Deployments registered on the pool (``prefect deploy --all`` registers prefect.yaml's on
``wasmops-local``) then run here, as subprocesses started from the project directory. Start one
worker per machine (or several); releases of different modules run on whichever worker is free,
releases of one module wait for each other (``flows/_concurrency.module_lock``).
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from . import app
from ._ui import err_console, settings
from ..errors import ConfigError, TransientError

PROJECT_DIR = Path(__file__).resolve().parents[2]
DEFAULT_POOL = "wasmops-local"


@app.command()
def worker(pool: str = typer.Option(DEFAULT_POOL, "--pool", help="The process work pool to join (created if absent)."),
           name: str = typer.Option(None, "--name", help="The worker's name (default: Prefect's, per process)."),
           limit: int = typer.Option(None, "--limit", min=1, help="At most this many flow runs at once here."),
           ) -> None:
    """Join a Prefect process work pool and run its deployments' flow runs on this machine."""
    from ._prefect import configure

    configure(settings())
    api = os.environ.get("PREFECT_API_URL")
    if not api:
        raise ConfigError("a worker needs a Prefect server", where="PREFECT_API_URL",
                          hint="run `wasmops up` here, or set PREFECT_API_URL to the server's /api URL")
    import httpx

    from flows._workpool import ensure_process_pool, run_worker

    try:
        created = ensure_process_pool(pool)
    except httpx.HTTPError as exc:
        raise TransientError(f"cannot reach the Prefect server ({type(exc).__name__}: {exc})", where=api,
                             hint="start it with `wasmops up`, or fix PREFECT_API_URL") from exc
    err_console().print(f"work pool {pool!r} {'created' if created else 'exists'} on {api}; starting a worker "
                        f"(project {PROJECT_DIR})", highlight=False)
    os.environ.setdefault("WASMOPS_PROJECT_DIR", str(PROJECT_DIR))   # prefect.yaml's pull step goes there
    os.chdir(PROJECT_DIR)
    run_worker(pool, name=name, limit=limit, printer=lambda m, **_: err_console().print(m, highlight=False))
