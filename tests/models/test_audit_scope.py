"""`wasmops models audit` on store rows: the store keeps no labels, so it says recall and
false-positive rates cannot be measured and draws no fairness conclusion; it names teams whose
rows it left out and why, and says how many rows are synthetic.

Found from outside: on synthetic store rows audit showed anomalies 0 / recall nan per team,
counted alarms on the injected anomalies as false positives, concluded `no unfair gaps flagged`,
and a team of a module without a baseline (ops) was missing with no reason."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from wasmops.telemetry import synthesize


class _Stub:
    """A champion that knows the prod modules and alerts on every 40th row."""

    def __init__(self, known):
        self.scaler_ = SimpleNamespace(modules_=np.asarray(sorted(known)))

    def predict(self, df):
        return np.arange(len(df)) % 40 == 0


def _rows(now):
    prod = synthesize(modules=4, teams=2, days=3, seed=2, end=now)
    ops = synthesize(modules=1, teams=1, days=1, seed=9, end=now, namespace="dev").assign(team="ops")
    return prod, ops


def test_audit_of_store_rows_draws_no_conclusion_and_names_what_it_left_out(tmp_path, monkeypatch):
    import models.registry
    from wasmops.cli import app
    from wasmops.config import Settings
    from wasmops.telemetry import Store
    from wasmops.workspace import init_workspace

    now = pd.Timestamp.now(tz="UTC").floor("h")
    prod, ops = _rows(now)
    s = Settings(home=tmp_path / "ws")
    init_workspace(s)
    store = Store.open(s)
    store.append(prod)
    store.append(ops.drop(columns=["is_anomaly", "anomaly_kind"]))          # real-looking rows, no labels
    known = {f"{ns}/{m}" for ns, m in zip(prod["namespace"], prod["module"])}
    monkeypatch.setattr(models.registry, "load_champion",
                        lambda kind: (_Stub(known), {"name": "wasmops-anomaly", "version": "4"}))
    monkeypatch.setenv("WASMOPS_HOME", str(s.home))
    monkeypatch.setenv("COLUMNS", "200")
    r = CliRunner().invoke(app, ["models", "audit", "--days", "5"])
    assert r.exit_code == 0, (r.output, r.exception)
    out = " ".join(r.output.split())
    assert "no unfair gaps flagged" not in out and "no fairness conclusion" in out and "recall" in out
    assert "false_positives" not in out and "nan" not in out
    assert f"team ops: all its rows ({len(ops)}) left out: the model has no baseline for dev/mod-000" in out
    assert f"{len(prod)} of {len(prod) + len(ops)} from the store are synthetic" in out


def test_labelled_rows_keep_fpr_and_recall_and_the_conclusion():
    from models.audit import bias_audit, without_baseline

    now = pd.Timestamp("2026-06-01T00:00Z")
    prod, ops = _rows(now)
    both = pd.concat([prod, ops], ignore_index=True)
    known = {f"{ns}/{m}" for ns, m in zip(prod["namespace"], prod["module"])}
    kept, notes = without_baseline(both, _Stub(known))
    assert len(kept) == len(prod) and len(notes) == 1 and notes[0].startswith("team ops")
    res = bias_audit(kept, model=_Stub(known))
    assert res.labelled and {"fpr", "recall"} <= set(res.table.columns)
    unlabelled = bias_audit(kept.drop(columns=["is_anomaly"]), model=_Stub(known))
    assert not unlabelled.labelled and not {"fpr", "recall", "false_positives"} & set(unlabelled.table.columns)
