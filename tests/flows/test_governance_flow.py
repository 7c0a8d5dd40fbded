"""The documented path through the CLI in a fresh workspace: telemetry synth → models train (refused:
synthetic) → models train --allow-synthetic → score (champion + challenger in shadow) → label →
compare → history."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from support.host import make_workspace


@pytest.fixture(scope="module")
def gov_ws(tmp_path_factory, prefect_api):
    ws = make_workspace(tmp_path_factory.mktemp("gov-ws"))
    mp = pytest.MonkeyPatch()
    mp.setenv("WASMOPS_HOME", str(ws.home))
    yield ws
    mp.undo()


def _run(*args: str) -> str:
    from wasmops.cli import app

    r = CliRunner().invoke(app, list(args))
    assert r.exit_code == 0, f"wasmops {' '.join(args)}:\n{r.output}\n{r.exception!r}"
    return r.output


def test_synth_train_score_with_a_shadow_challenger_then_label_compare_history(gov_ws):
    from wasmops.gitops.decisions import list_decisions

    gitops = gov_ws.settings.gitops_dir
    stored = _run("telemetry", "synth", "--modules", "4", "--teams", "2", "--days", "21")
    assert "stored" in stored and "new rows" in stored
    refused = _run("models", "train")
    assert "not promoted" in refused and "--allow-synthetic" in refused and "data.synthetic=true" in refused
    allowed = _run("models", "train", "--allow-synthetic")
    assert "wasmops-anomaly v2 promoted" in allowed
    assert "cost: nothing trained" in allowed          # 14 days before the holdout: the cost model needs 14.5
    out = _run("score")                 # the documented command, its defaults: synth wrote what they expect
    assert "shadow v1" in out

    champ = list_decisions(gitops, kind="anomaly")
    shadow = list_decisions(gitops, kind="anomaly", shadow=True)
    assert champ and all(d.model["version"] == "2" and not d.shadow for d in champ)
    assert len(shadow) == len(champ) and all(d.model["version"] == "1" for d in shadow)
    assert all(d.action.startswith("none: shadow") and d.refers_to in {c.id for c in champ} for d in shadow)
    assert {d.verdict for d in champ} <= {"ok", "anomalous"}   # four modules with 3 weeks of history: judged

    _run("decisions", "label", shadow[0].refers_to, "--correct", "--reason", "checked")
    rows = {r["role"]: r for r in json.loads(_run("models", "compare", "--json"))}
    assert rows["champion"]["labelled"] == 1 and rows["champion"]["agree"] == 1
    assert rows["challenger"]["labelled"] == 1 and rows["challenger"]["version"] == "1"
    [now] = json.loads(_run("models", "history", "--kind", "anomaly", "--at", "2100-01-01", "--json"))
    assert now["version"] == "2"
    events = json.loads(_run("models", "history", "--json"))
    assert {(e["model"], e["version"], e["event"]) for e in events} >= {("wasmops-anomaly", "2", "promoted")}
