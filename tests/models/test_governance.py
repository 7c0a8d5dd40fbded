"""Real history in, synthetic out of production; champion history; shadow verdicts labelled and compared."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from models.training import inject_anomalies, plan_training
from wasmops.gitops.decisions import Decision, get_decision, label_decision, list_decisions, record
from wasmops.telemetry import Store, schema, synthesize

END = pd.Timestamp("2025-03-03T00:00:00Z")
LINEAGE = {"gx_result_id": "gx-test", "data_digest": "sha256:" + "cd" * 32, "code_version": "test"}


def real(df: pd.DataFrame) -> pd.DataFrame:
    """Rows as the scraper writes them: no label columns, real-looking digests."""
    out = schema.coerce(df, labels=False)
    out["digest"] = "sha256:" + out["module"].map(lambda m: f"{abs(hash(m)) % 10**12:064x}")
    return out


@pytest.fixture(scope="module")
def store_uri(tmp_path_factory):
    d = tmp_path_factory.mktemp("mlflow-gov")
    return f"sqlite:///{d / 'mlflow.db'}", str(d / "mlartifacts")


def test_store_marks_synthetic_series_and_appending_twice_stores_once(tmp_path):
    st = Store(tmp_path / "t.db")
    syn = synthesize(modules=2, days=2, seed=3, end=END)
    assert st.append(syn, now=END) == len(syn) and st.append(syn, now=END) == 0
    assert st.append(real(synthesize(modules=1, days=2, seed=4, end=END)), now=END) == 48
    assert st.synthetic_series() == set(map(tuple, syn[schema.SERIES].drop_duplicates().to_numpy().tolist()))
    df = st.read()
    assert not df.duplicated(schema.KEY).any() and len(df) == len(syn) + 48


def test_plan_keeps_modules_with_enough_history_and_says_why_the_rest_are_cold():
    hist = real(synthesize(modules=3, days=21, seed=1, end=END))
    short = real(synthesize(modules=1, days=3, seed=2, end=END)).assign(module="short")
    const = hist[hist["module"] == "mod-000"].assign(module="flat", invocations=100, errors=0, fuel=10**6,
                                                    latency_p50_ms=1.0, latency_p95_ms=2.0, peak_memory=65536)
    one = hist.tail(1).assign(module="once")
    plan = plan_training(pd.concat([hist, short, const, one], ignore_index=True), set())
    assert plan.modules == ["prod/mod-000", "prod/mod-001", "prod/mod-002"]
    assert "fewer than the minimum 14" in plan.cold["prod/short"]
    assert "constant history" in plan.cold["prod/flat"]
    assert plan.cold["prod/once"].startswith("0 minutes of history")   # one window: said in minutes, not "0.0 days"
    assert not plan.synthetic and plan.source == "telemetry-store:real"
    assert plan.holdout["ts"].min() > plan.train["ts"].max()
    empty = plan_training(hist.iloc[0:0], set())
    assert empty.modules == [] and empty.train.empty


def test_synthetic_model_is_not_promoted_without_allow_and_is_with_it(split, store_uri, tmp_path):
    from mlflow.tracking import MlflowClient

    from models.registry import load_challenger, load_champion, train_and_register

    uri, art = store_uri
    kw = dict(tracking_uri=uri, artifact_location=art, decisions_dir=tmp_path, **LINEAGE)
    refused = train_and_register("anomaly", split[0], split[1], **kw)
    assert refused.synthetic and not refused.promoted and "--allow-synthetic" in refused.reason
    with pytest.raises(LookupError):
        load_champion("anomaly", tracking_uri=uri)
    allowed = train_and_register("anomaly", split[0], split[1], allow_synthetic=True, **kw)
    assert allowed.promoted and allowed.reason.startswith("there was no champion before; trained on synthetic")
    client = MlflowClient(uri, registry_uri=uri)
    mv = client.get_model_version("wasmops-anomaly", allowed.version)
    assert mv.tags["data.synthetic"] == "true" and "champion.promoted_at" in mv.tags
    assert "roc_auc" in mv.description and "data.synthetic=true" in mv.description
    assert client.get_registered_model("wasmops-anomaly").description
    model, info = load_challenger("anomaly", tracking_uri=uri)
    assert info["version"] == refused.version and model is not None
    [p] = list_decisions(tmp_path, kind="promotion")
    assert (p.subject, p.verdict, p.output["version"]) == ("wasmops-anomaly", "promoted", allowed.version)
    # Found from outside: the record said only "no champion yet"; the synthetic data and the flag that
    # let it through were in MLflow tags alone.
    assert "allowed by --allow-synthetic" in p.explanation and p.data["synthetic"] is True
    assert p.data["allow_synthetic"] is True


def test_real_history_path_tags_synthetic_false_with_its_source_and_figures(store_uri, tmp_path):
    from mlflow.tracking import MlflowClient

    from models.anomaly import AnomalyModel
    from models.registry import train_and_register
    from models.training import robust_z_metrics

    uri, art = store_uri
    plan = plan_training(real(synthesize(modules=4, days=21, seed=9, end=END)), set())
    labelled = inject_anomalies(plan.holdout, seed=0)
    assert labelled["is_anomaly"].sum() >= 1 and "is_anomaly" not in plan.train.columns
    model = AnomalyModel().fit(plan.train)
    res = train_and_register("anomaly", plan.train, labelled, model=model, synthetic=plan.synthetic,
                             data_source=plan.source, baseline={"robust_z": robust_z_metrics(model, labelled)},
                             tracking_uri=uri, artifact_location=art, decisions_dir=tmp_path, **LINEAGE)
    tags = MlflowClient(uri, registry_uri=uri).get_model_version("wasmops-anomaly", res.version).tags
    assert tags["data.synthetic"] == "false" and tags["data.source"] == "telemetry-store:real"
    assert "vs.baseline_robust_z.pr_auc" in tags and tags["eval.pr_auc"]


def _promotion(tmp_path, version, event, at):
    record(tmp_path, Decision(kind="promotion", subject="wasmops-anomaly", verdict=event,
                              output={"version": version, "at": at}), commit=False)


def test_history_answers_which_version_was_champion_at_a_time(tmp_path, monkeypatch):
    from wasmops.cli import app

    (tmp_path / "gitops").mkdir()
    g = tmp_path / "gitops"
    _promotion(g, "1", "promoted", "2025-01-01T00:00:00+00:00")
    _promotion(g, "1", "demoted", "2025-02-01T00:00:00+00:00")
    _promotion(g, "3", "promoted", "2025-02-01T00:00:00+00:00")
    monkeypatch.setenv("WASMOPS_HOME", str(tmp_path))
    runner = CliRunner()

    def at(t):
        r = runner.invoke(app, ["models", "history", "--kind", "anomaly", "--at", t, "--json"])
        assert r.exit_code == 0, r.output
        return json.loads(r.output)[0]["version"]

    assert at("2024-12-31T23:59:59Z") is None
    assert at("2025-01-15T00:00:00Z") == "1"
    assert at("2025-02-01T00:00:00Z") == "3" and at("2025-06-01") == "3"
    r = runner.invoke(app, ["models", "history", "--json"])
    assert [e["event"] for e in json.loads(r.output)] == ["promoted", "demoted", "promoted"]
    assert runner.invoke(app, ["models", "history", "--at", "not a time"]).exit_code != 0


def test_label_is_a_new_record_and_compare_weighs_champion_against_challenger(tmp_path, monkeypatch):
    from wasmops.cli import app

    g = tmp_path / "gitops"
    champ = Decision(kind="anomaly", subject="prod/a", verdict="anomalous", digest="sha256:a",
                     model={"name": "wasmops-anomaly", "version": "2", "alias": "champion"})
    shadow = Decision(kind="anomaly", subject="prod/a", verdict="ok", digest="sha256:a", shadow=True,
                      refers_to=champ.id, model={"name": "wasmops-anomaly", "version": "1"})
    for d in (champ, shadow):
        record(g, d, commit=False)
    assert [d.id for d in list_decisions(g, kind="anomaly")] == [champ.id]          # shadow left out
    assert {d.id for d in list_decisions(g, kind="anomaly", shadow=None)} == {champ.id, shadow.id}
    monkeypatch.setenv("WASMOPS_HOME", str(tmp_path))
    runner = CliRunner()
    r = runner.invoke(app, ["decisions", "label", champ.id, "--wrong", "--reason", "a deploy, not a fault"])
    assert r.exit_code == 0, r.output
    assert get_decision(g, champ.id) == champ                                        # never rewritten
    [lab] = list_decisions(g, kind="label")
    assert lab.refers_to == champ.id and lab.output["truth"] == "ok" and lab.explanation == "a deploy, not a fault"
    rows = json.loads(runner.invoke(app, ["models", "compare", "--json"]).output)
    by_role = {r["role"]: r for r in rows}
    assert by_role["champion"]["disagree"] == 1 and by_role["champion"]["agreement"] == 0.0
    assert by_role["challenger"]["agree"] == 1 and by_role["challenger"]["version"] == "1"
    assert runner.invoke(app, ["decisions", "label", "dec-nope", "--correct"]).exit_code != 0
    assert runner.invoke(app, ["decisions", "label", champ.id]).exit_code != 0       # neither --correct nor --wrong
    listed = runner.invoke(app, ["decisions", "--kind", "anomaly"])
    assert listed.exit_code == 0 and "(shadow)" in listed.output
    held = Decision(kind="anomaly", subject="prod/a", verdict="hold", digest="sha256:a",
                    model={"name": "wasmops-anomaly", "version": "2", "alias": "champion"})
    record(g, held, commit=False)
    r = runner.invoke(app, ["decisions", "label", held.id, "--wrong"])              # wrong, but what was right?
    assert r.exit_code != 0 and "--should-be" in str(r.exception), r.exception
    assert label_decision(g, held.id, correct=False, should_be="anomalous", commit=False).output["truth"] == "anomalous"
    label_decision(g, champ.id, correct=True, commit=False)                          # a later label wins
    assert {r["role"]: r["agree"] for r in json.loads(runner.invoke(app, ["models", "compare", "--json"]).output)} \
        == {"champion": 1, "challenger": 0}


class _Outcome:
    success, failed, result_id = True, [], "gx-ok"


def test_bad_input_gets_hold_with_a_reason_never_a_crash(anomaly_model, data):
    from wasmops.telemetry.validate import validate
    from wasmops.ai.verdicts import judge

    info = {"name": "wasmops-anomaly", "version": "7"}
    bad = data[data["module"] == "mod-001"].tail(3).copy()
    bad.loc[bad.index[0], "latency_p95_ms"] = np.nan
    bad.loc[bad.index[1], "fuel"] = -5
    out = validate(bad, freshness_minutes=None)
    assert not out.success
    assert {v.verdict for v in judge(bad, out, anomaly_model, info)} == {"hold"}
    [v] = judge(data.iloc[0:0], _Outcome(), anomaly_model, info)
    assert v.verdict == "hold" and "no telemetry" in v.explanation
    [one] = judge(data[data["module"] == "mod-002"].tail(1), _Outcome(), anomaly_model, info, min_windows=2)
    assert one.verdict == "hold" and "at least 2" in one.explanation
    flat = data[data["module"] == "mod-003"].tail(3).assign(module="never-trained")
    [cold] = judge(flat, _Outcome(), anomaly_model, info)
    assert cold.verdict == "hold" and "no baseline" in cold.explanation
    assert judge(data.iloc[0:0], _Outcome(), None, info)[0].verdict == "hold"
    # Found from outside: the same module name in another namespace (dev beside prod) was scored
    # against prod's baseline and called anomalous after 3 minutes of traffic. Baselines are per
    # namespace/module: a namespace the model never saw holds.
    ns = str(data["namespace"].iloc[0])
    other = data[(data["module"] == "mod-004") & (data["namespace"] == ns)].tail(6).assign(namespace=ns + "-other")
    other["fuel"] = other["fuel"] / 1000                             # a much smaller build: z would be -50
    [twin] = judge(other, _Outcome(), anomaly_model, info)
    assert twin.verdict == "hold" and f"no baseline for {ns}-other/mod-004" in twin.explanation
