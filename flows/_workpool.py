"""The process work pool that `wasmops worker` joins: created on first use, with Prefect's default
process job template, by whichever worker comes first."""

from __future__ import annotations

from wasmops.errors import ConfigError


def ensure_process_pool(name: str) -> bool:
    """Create the process work pool ``name`` (Prefect's default process job template) unless it
    exists; True when it was created. A pool of another type is a ConfigError."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            pool = client.read_work_pool(name)
        except ObjectNotFound:
            try:
                client.create_work_pool(WorkPoolCreate(
                    name=name, type="process", base_job_template=ProcessWorker.get_default_base_job_template()))
                return True
            except ObjectAlreadyExists:     # another worker created it at the same moment
                pool = client.read_work_pool(name)
    if pool.type != "process":
        raise ConfigError(f"work pool {name!r} is a {pool.type!r} pool; `wasmops worker` joins process pools",
                          where="--pool", hint="pick another --pool, or start that pool's own worker type")
    return False


def run_worker(pool: str, *, name: str | None = None, limit: int | None = None,
               printer=print) -> None:
    """Run a Prefect process worker on ``pool`` in this process until SIGTERM or Ctrl-C, as
    ``prefect worker start --type process`` does (same signal handling: the flow runs it started
    get SIGINT first), without starting a second Python."""
    import asyncio
    import os

    from prefect.settings import PREFECT_WORKER_HEARTBEAT_SECONDS, PREFECT_WORKER_PREFETCH_SECONDS
    from prefect.utilities.processutils import setup_signal_handlers_worker
    from prefect.workers.process import ProcessWorker

    setup_signal_handlers_worker(os.getpid(), "the process worker", printer)

    async def main() -> None:
        worker = ProcessWorker(work_pool_name=pool, name=name, limit=limit,
                               prefetch_seconds=PREFECT_WORKER_PREFETCH_SECONDS.value(),
                               heartbeat_interval_seconds=int(PREFECT_WORKER_HEARTBEAT_SECONDS.value()))
        try:
            await worker.start(with_healthcheck=False, printer=printer)
        except asyncio.CancelledError:
            printer(f"worker {worker.name!r} stopped")

    asyncio.run(main())
