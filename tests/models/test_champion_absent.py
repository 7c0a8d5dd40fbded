"""``champion_absent`` answers "no champion" from the SQLite file alone, and only when that is certain.

A release's budget gate asked MLflow whether a cost model was promoted, which imported mlflow and
sklearn (~3 s of CPU a release) only to learn that none was. The store here is a real MLflow
SQLite store, written by MLflow's own client.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from models.mlflow_store import CHAMPION, NAMES, champion_absent, ensure_store


def _store(tmp_path: Path) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ensure_store(uri)
    return uri


def _promote(uri: str, kind: str, alias: str = CHAMPION) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri, registry_uri=uri)
    client.create_registered_model(NAMES[kind])
    mv = client.create_model_version(NAMES[kind], source=str(Path(uri.removeprefix("sqlite:///")).parent / "m"))
    client.set_registered_model_alias(NAMES[kind], alias, mv.version)


def test_absent_only_where_the_store_certainly_has_no_champion(tmp_path):
    assert champion_absent("cost", f"sqlite:///{tmp_path / 'never.db'}")      # no file: nothing in it
    uri = _store(tmp_path)
    assert champion_absent("cost", uri) and champion_absent("anomaly", uri)  # schema, no model
    _promote(uri, "anomaly", alias="candidate")
    assert champion_absent("anomaly", uri)                                   # another alias is not @champion
    _promote(uri, "cost")
    assert not champion_absent("cost", uri)
    assert champion_absent("anomaly", uri)


def test_unknown_stores_are_left_to_mlflow(tmp_path):
    assert not champion_absent("cost", "http://127.0.0.1:1")                  # a tracking server: ask it
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database at all" * 100)
    assert not champion_absent("cost", f"sqlite:///{broken}")
    other = tmp_path / "other.db"
    import sqlite3

    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()  # SQLite, but not MLflow's
    assert not champion_absent("cost", f"sqlite:///{other}")


def test_the_budget_gates_forecast_imports_neither_mlflow_nor_sklearn_without_a_champion(tmp_path):
    uri = _store(tmp_path)
    code = f"""
import sys
from datetime import datetime, timezone
from unittest import mock
import pandas as pd
import models.mlflow_store as ms
from tasks.finops import forecast_by_team
samples = pd.DataFrame({{"ts": [pd.Timestamp.now(tz="UTC")], "team": ["t"]}})
with mock.patch.object(ms, "default_store", lambda: ({uri!r}, None)):
    print(forecast_by_team(samples, datetime.now(timezone.utc)))
print(sorted(m for m in ("mlflow", "sklearn") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-2:] == ["({}, {})", "[]"], out.stdout
