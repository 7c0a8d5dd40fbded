"""`wasmops up --database postgresql://…`: a bad URL is one clear line naming it (password redacted) and
starts nothing, and no password shows in what people read. The Prefect server and MLflow on a real
PostgreSQL, restarted with no lost runs or models, are tested with PostgreSQL and the server on machines
of their own: tests/ops/test_control_plane_netns.py."""

from __future__ import annotations

import os
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from support.host import REPO, WASMOPS
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


@pytest.mark.parametrize("address, says", [("192.0.2.77", "cannot listen on 192.0.2.77"),    # TEST-NET-1
                                           ("edge.example", "not an IP address")])
def test_a_bind_address_not_of_this_machine_is_one_clear_line_and_starts_nothing(tmp_path, address, says):
    p = _wasmops(tmp_path, "up", "--no-serve", "--bind", address, check=1)
    error = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
    assert len(error) == 1 and "--bind" in error[0] and says in error[0], p.stderr
    assert not (tmp_path / "services.json").exists() and not (tmp_path / "gitops").exists()


def test_a_port_asked_for_that_is_taken_is_one_clear_line_and_starts_nothing(tmp_path):
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        p = _wasmops(tmp_path, "up", "--no-serve", "--mlflow-port", str(port), check=1)
    error = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
    assert len(error) == 1 and "--mlflow-port" in error[0] and f"port {port} on 127.0.0.1 is in use" in error[0], p.stderr
    assert not (tmp_path / "services.json").exists() and not (tmp_path / "gitops").exists()
