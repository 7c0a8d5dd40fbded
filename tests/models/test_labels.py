"""Labels judge model verdicts only, and `models compare` survives labels written before that rule.

Found from outside: `wasmops score` on an empty store records a hold with no model (subject `*`);
labelled `--correct` beside normal verdicts, `models compare` crashed for good (sorting None
against a model name), and labels are append-only. A label on a promotion was accepted and
counted nowhere."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings, strategies as st
from typer.testing import CliRunner

from wasmops.gitops.decisions import Decision, label_decision, record

MODEL = {"name": "wasmops-anomaly", "version": "2", "alias": "champion"}


def _no_model_hold() -> Decision:        # what `wasmops score` records on an empty store
    return Decision(kind="anomaly", subject="*", verdict="hold", digest=None, model={},
                    explanation="no telemetry in the store")


def _old_label(of: Decision, truth: str) -> Decision:   # a label as the old `decisions label` wrote it
    return Decision(kind="label", subject=of.subject, verdict="correct", refers_to=of.id, model=of.model,
                    inputs={"decision": of.id, "kind": of.kind, "verdict": of.verdict}, output={"truth": truth})


def _invoke(monkeypatch, home, *args):
    from wasmops.cli import app

    monkeypatch.setenv("WASMOPS_HOME", str(home))
    return CliRunner().invoke(app, list(args))


def test_a_verdict_no_model_made_is_refused_as_a_label_and_skipped_by_compare(tmp_path, monkeypatch):
    g = tmp_path / "gitops"
    held, judged = _no_model_hold(), Decision(kind="anomaly", subject="prod/a", verdict="ok", digest="sha256:a",
                                              model=MODEL)
    for d in (held, judged, _old_label(held, "hold"), _old_label(judged, "ok")):
        record(g, d, commit=False)
    r = _invoke(monkeypatch, tmp_path, "models", "compare", "--json")
    assert r.exit_code == 0, r.output
    assert [(x["model"], x["version"], x["agree"]) for x in json.loads(r.output)] == [("wasmops-anomaly", "2", 1)]
    r = _invoke(monkeypatch, tmp_path, "decisions", "label", held.id, "--correct")
    assert r.exit_code != 0 and "no model" in str(r.exception), r.output


def test_only_model_verdicts_can_be_labelled_and_the_refusal_names_the_kinds(tmp_path):
    g = tmp_path / "gitops"
    promo = Decision(kind="promotion", subject="wasmops-anomaly", verdict="promoted", model=MODEL)
    record(g, promo, commit=False)
    try:
        label_decision(g, promo.id, correct=False, should_be="demoted", commit=False)
    except ValueError as exc:
        assert "promotion" in str(exc) and "anomaly" in str(exc)
    else:
        raise AssertionError("a label on a promotion was accepted")


def test_show_names_the_labels_of_a_decision_and_what_a_label_judges(tmp_path, monkeypatch):
    g = tmp_path / "gitops"
    judged = Decision(kind="anomaly", subject="prod/b", verdict="anomalous", digest="sha256:b", model=MODEL)
    record(g, judged, commit=False)
    lab = label_decision(g, judged.id, correct=False, reason="a deploy", actor="ann", commit=False)
    out = " ".join(_invoke(monkeypatch, tmp_path, "decisions", "show", judged.id).output.split())
    assert "label: wrong by ann" in out and lab.id in out and "should have been ok" in out and "a deploy" in out
    out = " ".join(_invoke(monkeypatch, tmp_path, "decisions", "show", lab.id).output.split())
    assert f"labels: {judged.id} (anomaly anomalous) as wrong" in out


_decisions = st.lists(st.tuples(st.sampled_from(["ok", "anomalous", "hold"]), st.booleans(), st.booleans(),
                                st.sampled_from(["ok", "anomalous", "hold"])), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_decisions)
def test_compare_counts_every_labelled_model_verdict_and_no_row_without_a_model(rows):
    from models.governance import compare

    ds, expected = [], 0
    for verdict, with_model, shadowed, truth in rows:
        d = Decision(kind="anomaly", subject="prod/m", verdict=verdict, model=MODEL if with_model else {})
        ds += [d, _old_label(d, truth)]
        if shadowed:
            ds.append(Decision(kind="anomaly", subject="prod/m", verdict=verdict, shadow=True, refers_to=d.id,
                               model={"name": "wasmops-anomaly", "version": "1"}))
        expected += with_model + (shadowed and with_model)
    out = compare(ds)
    assert all(r["model"] and r["version"] not in (None, "None") for r in out)
    assert sum(r["labelled"] for r in out) == expected
