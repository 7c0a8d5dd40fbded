"""Every list-like CLI command has `--json` for scripts, and the cost commands' JSON is exact."""

from __future__ import annotations

import json
from decimal import Decimal

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from wasmops.cli import app

LISTS = {"list", "status", "report", "recommend", "history", "compare", "approvals", "decisions"}


def _commands(group, path=()):
    for name, cmd in group.commands.items():
        yield (*path, name), cmd
        if hasattr(cmd, "commands"):  # a group (typer may ship its own click)
            yield from _commands(cmd, (*path, name))


def test_every_list_command_has_json():
    root = typer.main.get_command(app)
    seen = []
    for path, cmd in _commands(root):
        if path[-1] in LISTS:
            opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
            assert "--json" in opts, f"wasmops {' '.join(path)} has no --json"
            seen.append(" ".join(path))
    assert {"cost report", "cost recommend", "quarantine list", "decisions", "fleet status"} <= set(seen)


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("WASMOPS_HOME", str(tmp_path / "ws"))
    r = CliRunner().invoke(app, ["init"])
    assert r.exit_code == 0, r.output
    from wasmops.config import Settings
    from wasmops.telemetry import Store, synthesize

    end = pd.Timestamp.now(tz="UTC").floor("h")
    df = synthesize(modules=3, teams=2, days=2, seed=7, end=end)
    real = df.drop(columns=["is_anomaly", "anomaly_kind"])  # without labels: stored as real traffic
    assert Store.open(Settings()).append(real) == len(real)
    return real


def test_cost_report_json_is_exact_and_matches_the_table(workspace):
    r = CliRunner().invoke(app, ["cost", "report", "--by", "team", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert {row["team"] for row in rows} == set(workspace["team"])
    for row in rows:
        for k, v in row.items():
            if k.endswith("cost"):
                assert isinstance(v, str) and Decimal(v) >= 0, (k, v)
    table = CliRunner().invoke(app, ["cost", "report", "--by", "team"], terminal_width=200)
    assert table.exit_code == 0
    first_cost = next(k for k in rows[0] if k.endswith("cost"))
    shown = {format(Decimal(rows[0][first_cost]).quantize(Decimal(1).scaleb(-p)), "f") for p in range(4, 13)}
    assert any(x in table.stdout for x in shown)      # 4 to 12 places: enough for 3 significant digits


def test_cost_recommend_json(workspace):
    r = CliRunner().invoke(app, ["cost", "recommend", "--json", "--idle-days", "1", "--lookback-days", "2"])
    assert r.exit_code == 0, r.output
    recs = json.loads(r.stdout)
    assert isinstance(recs, list)
    for rec in recs:
        assert {"module", "kind", "current", "recommended", "monthly_saving", "reason"} <= set(rec)
        Decimal(str(rec["monthly_saving"]))


def test_money_in_json_is_positional_never_an_exponent():
    from decimal import Decimal

    from wasmops.cli.data import _json_value

    assert _json_value(Decimal("0E-12")) == "0.000000000000" and _json_value(Decimal("8.68056E-7")) == "0.000000868056"
