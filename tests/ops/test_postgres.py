"""`wasmops up --database postgresql://…`: the Prefect server and MLflow on a real PostgreSQL (a
throwaway cluster from Debian's `postgresql`), restarted with no lost runs or models; a bad URL is one
clear line naming it (password redacted) and starts nothing."""

from __future__ import annotations

import json
import os
import subprocess

import httpx
import pytest
from hypothesis import given, settings, strategies as st

from support.host import REPO, WASMOPS
from support.postgres import PostgresCluster, pg_bin
from wasmops.errors import ConfigError
from wasmops.services import Database, free_port, redact_url


def _env(home) -> dict:
    env = {**os.environ, "WASMOPS_HOME": str(home)}
    for k in ("PREFECT_API_URL", "PREFECT_HOME", "WASMOPS_DATABASE_URL", "PGPASSWORD"):
        env.pop(k, None)
    return env


def _wasmops(home, *args, check=0):
    p = subprocess.run([WASMOPS, *args], env=_env(home), cwd=REPO, capture_output=True, text=True, timeout=300)
    if check is not None:
        assert p.returncode == check, f"wasmops {' '.join(args)}: {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


@pytest.mark.parametrize("url, says", [
    ("postgresql://ops:Sup3r-s3cret@127.0.0.1:{port}/wasmops", "cannot use the database"),
    ("mysql://ops:Sup3r-s3cret@127.0.0.1:{port}/wasmops", "not a PostgreSQL URL"),
    ("postgresql://ops:Sup3r-s3cret@127.0.0.1:{port}", "expected postgresql://USER"),
])
def test_a_bad_database_url_is_one_clear_line_and_starts_nothing(tmp_path, url, says):
    url = url.format(port=free_port())                       # nothing listens there
    p = _wasmops(tmp_path, "up", "--no-serve", "--database", url, check=1)
    error = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
    assert len(error) == 1 and says in error[0], p.stderr
    assert "--database " in error[0] and ":***@127.0.0.1:" in error[0] and "Sup3r" not in p.stdout + p.stderr
    assert not (tmp_path / "services.json").exists() and not (tmp_path / "gitops").exists()


@settings(max_examples=200, deadline=None)
@given(user=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12),
       pw=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=16),
       db=st.text("abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=10))
def test_passwords_never_show_in_what_people_read(user, pw, db):
    """Any user and password (percent-encoded as a URL needs them) parse back exactly; the redacted
    URL and the SQLAlchemy URLs handed to the services never hold the password."""
    from urllib.parse import quote

    url = f"postgresql://{quote(user, safe='')}:{quote(pw, safe='')}@db.example:6543/{db}"
    parsed = Database.parse(url)
    assert (parsed.user, parsed.password, parsed.host, parsed.port, parsed.name) == (user, pw, "db.example", 6543, db)
    assert parsed.redacted == f"postgresql://{quote(user, safe='')}:***@db.example:6543/{db}"
    assert redact_url(url) == parsed.redacted
    for driver, shown in (("asyncpg", parsed.sqlalchemy("asyncpg")), ("psycopg", parsed.mlflow_uri())):
        assert shown.startswith(f"postgresql+{driver}://{quote(user, safe='')}@db.example:6543/{db}")
    assert parsed.env() == {"PGPASSWORD": pw}
    with pytest.raises(ConfigError, match=r"--database postgresql://.*:\*\*\*@"):
        Database.parse(url.rsplit("/", 1)[0])                 # no database name


def _flow_run(api: str) -> str:
    flow = httpx.post(f"{api}/flows/", json={"name": "survives-a-restart"}, timeout=30).json()
    run = httpx.post(f"{api}/flow_runs/", json={"flow_id": flow["id"], "name": "pg-run",
                                                 "parameters": {"x": 42}}, timeout=30).json()
    r = httpx.post(f"{api}/flow_runs/{run['id']}/set_state",
                   json={"state": {"type": "COMPLETED", "name": "Completed"}, "force": True}, timeout=30)
    assert r.status_code in (200, 201), r.text
    return run["id"]


def _model(mlflow: str) -> tuple[str, str]:
    api = f"{mlflow}/api/2.0/mlflow"
    run = httpx.post(f"{api}/runs/create", json={"experiment_id": "0", "run_name": "pg-train"}, timeout=30).json()
    run_id = run["run"]["info"]["run_id"]
    assert httpx.post(f"{api}/runs/log-metric", json={"run_id": run_id, "key": "auc", "value": 0.91,
                                                      "timestamp": 1, "step": 0}, timeout=30).status_code == 200
    assert httpx.post(f"{api}/registered-models/create", json={"name": "wasmops-pg"}, timeout=30).status_code == 200
    mv = httpx.post(f"{api}/model-versions/create", json={"name": "wasmops-pg", "source": f"runs:/{run_id}/model",
                                                         "run_id": run_id}, timeout=30)
    assert mv.status_code == 200, mv.text
    return run_id, mv.json()["model_version"]["version"]


def _tables(url: str) -> dict[str, set[str]]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT table_schema, table_name FROM information_schema.tables "
                            "WHERE table_schema IN ('public', 'mlflow')").fetchall()
    out: dict[str, set[str]] = {}
    for schema, name in rows:
        out.setdefault(schema, set()).add(name)
    return out


@pytest.mark.skipif(pg_bin() is None, reason="Debian package `postgresql` not installed (make deps-system)")
def test_prefect_and_mlflow_restart_on_postgresql_with_no_lost_runs_or_models(tmp_path):
    with PostgresCluster() as pg:
        up = ("up", "--no-serve", "--no-host", "--database", pg.url)
        out = _wasmops(tmp_path, *up).stdout
        assert "pg-test-pw" not in out and f"127.0.0.1:{pg.port}/wasmops" in out
        svc = json.loads((tmp_path / "services.json").read_text())
        run_id = _flow_run(svc["prefect_api_url"])
        mlrun, version = _model(svc["mlflow_url"])
        tables = _tables(pg.url)
        assert {"flow_run", "deployment"} <= tables["public"] and {"runs", "registered_models"} <= tables["mlflow"]
        assert not (tmp_path / "mlflow.db").exists() and not list((tmp_path / "prefect").glob("*.db"))
        again = _wasmops(tmp_path, "up", "--no-serve", "--no-host", check=1)       # not silently on SQLite
        assert f"prefect is already running on postgresql://wasmops:***@127.0.0.1:{pg.port}/wasmops, not sqlite" \
            in again.stderr, again.stderr

        assert _wasmops(tmp_path, "down").stdout.strip() == "stopped: mlflow, prefect"
        _wasmops(tmp_path, *up)
        svc = json.loads((tmp_path / "services.json").read_text())
        run = httpx.get(f"{svc['prefect_api_url']}/flow_runs/{run_id}", timeout=30).json()
        assert (run["name"], run["parameters"], run["state"]["type"]) == ("pg-run", {"x": 42}, "COMPLETED")
        api = f"{svc['mlflow_url']}/api/2.0/mlflow"
        mv = httpx.get(f"{api}/model-versions/get", params={"name": "wasmops-pg", "version": version}, timeout=30)
        assert mv.status_code == 200 and mv.json()["model_version"]["run_id"] == mlrun
        got = httpx.get(f"{api}/runs/get", params={"run_id": mlrun}, timeout=30).json()["run"]["data"]["metrics"]
        assert [(m["key"], m["value"]) for m in got] == [("auc", 0.91)]
        _wasmops(tmp_path, "down")
