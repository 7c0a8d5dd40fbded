"""Flow-run names and tags people can read in the Prefect UI (team, env, module)."""

from __future__ import annotations

from prefect import get_run_logger
from prefect.runtime import flow_run


def label_run(manifest, *, name: str | None = None) -> None:
    """Tag the current flow run with the module's team, environment and key (and rename it); log its
    id and UI address so the terminal and the logs say where to look."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_UI_URL

    run_id = flow_run.get_id()
    if not run_id:
        return
    ui = PREFECT_UI_URL.value()
    get_run_logger().info(f"flow run {run_id}" + (f": {ui}/runs/flow-run/{run_id}" if ui else ""))
    labels = manifest.metadata.labels
    tags = [f"team:{labels.get('team')}", f"env:{manifest.spec.environment}", f"module:{manifest.key}"]
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(run_id, tags=sorted(set(tags) | set(flow_run.tags or [])),
                                   **({"name": name} if name else {}))
    except Exception:  # noqa: BLE001 - cosmetic; never fail a run over a name
        pass
