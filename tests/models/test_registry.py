"""The MLflow promotion gate, in a temporary SQLite store: promote, reject (and say why), promote."""

import numpy as np
import pytest

from models.registry import decide, load_champion, train_and_register

LINEAGE = {"gx_result_id": "gx-run-42", "data_digest": "sha256:" + "ab" * 32, "code_version": "0123abc"}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{d / 'mlflow.db'}", str(d / "mlartifacts")


def _client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri, registry_uri=uri)


def _register(kind, split, store, **kw):
    uri, art = store
    # The split is synthetic (it carries labels): allowed explicitly, as the gate now requires.
    return train_and_register(kind, split[0], split[1], tracking_uri=uri, artifact_location=art,
                              allow_synthetic=True, **LINEAGE, **kw)


def test_anomaly_promotion_gate_both_ways(split, store, capfd):
    uri = store[0]
    client = _client(uri)
    with pytest.raises(LookupError):
        load_champion("anomaly", tracking_uri=uri)

    first = _register("anomaly", split, store, params={"per_module": False})  # global scaling only
    # uv's environment has no pip: mlflow warned "Failed to resolve installed pip version" on every model
    assert "Failed to resolve installed pip version" not in capfd.readouterr().err
    assert first.promoted and first.reason.startswith("there was no champion before") and first.version == "1"

    worse = _register("anomaly", split, store, params={"features": ("latency_p95_ms",)})  # wrong features
    print(f"\nrejected v{worse.version}: {worse.reason}")
    assert not worse.promoted and worse.version == "2" and worse.champion_version == "1"
    assert "worse than champion v1" in worse.reason
    mv = client.get_model_version("wasmops-anomaly", "2")
    assert mv.tags["promotion"] == "rejected" and mv.tags["promotion_reason"] == worse.reason
    assert str(client.get_model_version_by_alias("wasmops-anomaly", "champion").version) == "1"

    better = _register("anomaly", split, store)
    print(f"promoted v{better.version}: {better.reason}")
    assert better.promoted and better.champion_version == "1"
    assert better.metrics["roc_auc"] > better.champion_metrics["roc_auc"]
    assert client.get_model_version("wasmops-anomaly", "3").tags["promotion"] == "promoted"

    model, info = load_champion("anomaly", tracking_uri=uri)
    assert info == {"name": "wasmops-anomaly", "version": "3", "alias": "champion", "run_id": better.run_id}
    holdout = split[1]
    assert np.allclose(model.score(holdout), better.model.score(holdout))
    assert model.threshold == better.metrics["threshold"]
    assert model.explain(holdout.iloc[0]).top_feature

    run = client.get_run(better.run_id)
    assert run.data.tags["wasmops.data_digest"] == LINEAGE["data_digest"]
    assert run.data.tags["wasmops.gx_result_id"] == "gx-run-42"
    assert run.data.tags["wasmops.code_version"] == "0123abc"
    assert '"train_rows"' in run.data.tags["wasmops.lineage"]
    assert {"roc_auc", "pr_auc", "threshold", "champion_roc_auc"} <= set(run.data.metrics)
    assert run.data.params["quantile"] == "0.99"


def test_cost_promotion_gate_both_ways(split, store):
    uri = store[0]
    first = _register("cost", split, store, params={"use_lags": False, "max_iter": 15})
    assert first.promoted and {"mae", "baseline_mae", "mae_ratio"} <= set(first.metrics)
    worse = _register("cost", split, store, params={"max_iter": 2})
    print(f"\nrejected cost v{worse.version}: {worse.reason}")
    assert not worse.promoted and "not better than champion v1" in worse.reason
    assert _client(uri).get_model_version("wasmops-cost", worse.version).tags["promotion"] == "rejected"
    better = _register("cost", split, store)
    assert better.promoted and better.metrics["mae"] < better.champion_metrics["mae"]
    model, info = load_champion("cost", tracking_uri=uri)
    assert info["version"] == better.version == "3"
    fc = model.forecast(split[0], 24)
    assert len(fc) == 24 * split[0]["module"].nunique()


def test_decide_rules():
    champ = {"roc_auc": 0.95, "pr_auc": 0.60}
    assert decide("anomaly", {"roc_auc": 0.96, "pr_auc": 0.60}, champ)[0]
    ok, why = decide("anomaly", {"roc_auc": 0.99, "pr_auc": 0.55}, champ)
    assert not ok and "pr_auc 0.5500 < 0.6000" in why
    ok, why = decide("anomaly", {"roc_auc": 0.951, "pr_auc": 0.601}, champ)
    assert not ok and why.startswith("not better")
    assert decide("cost", {"mae": 0.9}, {"mae": 1.0})[0]
    assert not decide("cost", {"mae": 0.995}, {"mae": 1.0})[0]
    assert decide("cost", {"mae": 5.0}, None) == (True, "there was no champion before")


def test_unknown_kind_is_refused(split, store):
    with pytest.raises(ValueError, match="unknown model kind"):
        _register("churn", split, store)


def test_default_store_is_in_the_workspace(tmp_path, monkeypatch):
    from models.registry import _resolve, default_store

    monkeypatch.setenv("WASMOPS_HOME", str(tmp_path))
    assert default_store() == (f"sqlite:///{tmp_path}/mlflow.db", f"{tmp_path}/mlartifacts")
    assert _resolve(f"sqlite:///{tmp_path}/x/m.db", None) == (f"sqlite:///{tmp_path}/x/m.db", f"{tmp_path}/x/mlartifacts")
    assert _resolve("http://127.0.0.1:5000", None) == ("http://127.0.0.1:5000", None)  # the server's root
