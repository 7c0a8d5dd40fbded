"""The MLflow store the models live in: where it is (the workspace's SQLite file, or a tracking
server), its schema created once under a lock, and mlflow's fluent API pointed at it for a while.
``models.registry`` trains, registers and promotes on top of it."""

from __future__ import annotations

import fcntl
import logging
from contextlib import contextmanager
import sqlite3
from pathlib import Path

NAMES = {"anomaly": "wasmops-anomaly", "cost": "wasmops-cost"}   #: registered model per kind
CHAMPION = "champion"


def default_store() -> tuple[str, str]:
    """(tracking URI, artifact root) in the workspace: ``<home>/mlflow.db``, ``<home>/mlartifacts``."""
    from wasmops.config import current  # noqa: PLC0415

    paths = current().paths
    return f"sqlite:///{paths.mlflow_db}", str(paths.mlflow_artifacts)


def _resolve(tracking_uri: str | None, artifact_location: str | None) -> tuple[str, str | None]:
    """The tracking URI and the artifact root: given, else next to a SQLite file (``mlartifacts``),
    else None for a tracking server (the server's own artifact root)."""
    if tracking_uri is None:
        d_uri, d_art = default_store()
        return d_uri, artifact_location or d_art
    if artifact_location is None and tracking_uri.startswith("sqlite:///"):
        artifact_location = str(Path(tracking_uri.removeprefix("sqlite:///")).parent / "mlartifacts")
    return tracking_uri, artifact_location


_READY: set[str] = set()


def never_created(tracking_uri: str) -> bool:
    """A SQLite store whose file does not exist yet: it holds no model, so a reader can say so without
    creating it (an MLflow schema costs ~2 s of CPU, and a fresh workspace's first release paid it in
    its budget gate only to learn there was no champion). A tracking server is never assumed empty."""
    return tracking_uri.startswith("sqlite:///") and not Path(tracking_uri.removeprefix("sqlite:///")).exists()


def champion_absent(kind: str, tracking_uri: str | None = None) -> bool:
    """True only when the store certainly holds no ``@champion`` of ``kind``: a SQLite file that does
    not exist, or one whose alias table has no such row (read-only, no lock, no mlflow). A release's
    budget gate and the score flow then say "no champion" without importing mlflow and sklearn, which
    cost a release ~3 s of CPU (`py-spy` on `wasmops release`: 47 % of the main thread in the budget
    gate, nearly all imports, to learn that no cost model exists). False for a tracking server or a
    file this cannot read (MLflow is asked then)."""
    uri = tracking_uri or default_store()[0]
    if never_created(uri):
        return True
    if not uri.startswith("sqlite:///"):
        return False
    db = Path(uri.removeprefix("sqlite:///"))
    try:
        con = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            row = con.execute("SELECT 1 FROM registered_model_aliases WHERE name = ? AND alias = ? LIMIT 1",
                              (NAMES[kind], CHAMPION)).fetchone()
        finally:
            con.close()
    except sqlite3.Error:       # no such table yet, a schema we do not know, a locked or broken file
        return False
    return row is None


def ensure_store(tracking_uri: str) -> None:
    """Create the SQLite schema once, under a file lock, before any parallel writer touches it
    (MLflow's migrations are not safe to run concurrently)."""
    if tracking_uri in _READY:
        return
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri.removeprefix("sqlite:///"))
        db.parent.mkdir(parents=True, exist_ok=True)
        with open(db.with_name(db.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                MlflowClient(tracking_uri, registry_uri=tracking_uri).search_experiments(max_results=1)
                MlflowClient(tracking_uri, registry_uri=tracking_uri).search_registered_models(max_results=1)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    _READY.add(tracking_uri)


@contextmanager
def _using(tracking_uri: str):
    """Point mlflow's fluent API (start_run, log_model, register_model) at ``tracking_uri``."""
    import mlflow  # noqa: PLC0415

    logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)   # "no pip" under uv: said on every log_model
    prev_t, prev_r = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        yield mlflow
    finally:
        mlflow.set_tracking_uri(prev_t)
        mlflow.set_registry_uri(prev_r)


def _experiment_id(client, name: str, artifact_location: str | None) -> str:
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = None
    if artifact_location is not None:
        where = Path(artifact_location) / name  # one directory per experiment under the root
        where.mkdir(parents=True, exist_ok=True)
        location = where.resolve().as_uri()
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException:  # another writer created it first
        return client.get_experiment_by_name(name).experiment_id
