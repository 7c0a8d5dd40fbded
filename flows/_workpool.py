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
