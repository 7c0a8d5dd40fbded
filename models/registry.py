"""MLflow helpers: train, log, register, and promote behind a champion/challenger gate.

Example::

    >>> from models.registry import train_and_register, load_champion, decide
    >>> decide("anomaly", {"roc_auc": 0.91, "pr_auc": 0.40}, {"roc_auc": 0.90, "pr_auc": 0.41})  # the rule
    (False, 'worse than champion: pr_auc 0.4000 < 0.4100')
    >>> r = train_and_register("anomaly", train_df, holdout_df, gx_result_id="gx-1",   # doctest: +SKIP
    ...                        data_digest="sha256:...", code_version="3f2c1e0")
    >>> r.promoted, r.reason   # MLflow, seconds: not run here; the first model of real data  # doctest: +SKIP
    (True, 'there was no champion before')
    >>> model, info = load_champion("anomaly")       # info: name, version, alias, run_id  # doctest: +SKIP

The store defaults to ``sqlite:///<home>/mlflow.db`` with artifacts under ``<home>/mlartifacts``
(home = ``wasmops.config.Settings().home``); pass ``tracking_uri``/``artifact_location`` to use
another. Models are logged with the sklearn flavor, serialized with skops, and registered as
``wasmops-anomaly`` / ``wasmops-cost``. A candidate becomes ``@champion`` only if it beats the current
champion re-evaluated on the same holdout (or there is none); otherwise it stays registered with
the model-version tags ``promotion=rejected`` and ``promotion_reason``.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from models.anomaly import INPUT_COLUMNS as ANOMALY_INPUTS
from models.anomaly import AnomalyModel
from models.forecast import INPUT_COLUMNS as COST_INPUTS
from models.forecast import CostForecaster
from models.model_card import MODEL_DESCRIPTIONS, describe_version, figures_tags
from models.mlflow_store import (_READY, CHAMPION, NAMES, _experiment_id, _resolve, _using,  # noqa: F401  (public here)
                                 default_store, ensure_store, never_created)

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

#: The only types skops may rebuild when loading, per kind. Our wrappers are plain sklearn
#: estimators holding numpy arrays; HistGradientBoosting with a categorical feature keeps a
#: ``functools.partial(check_array, ...)``, and skops also checks the wrapped function's name.
TRUSTED_TYPES = {
    "anomaly": ["models.anomaly.AnomalyModel", "models.features.RobustModuleScaler",
                "sklearn.tree._tree.Tree"],
    "cost": ["models.forecast.CostForecaster",
             "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
             "functools.partial", "sklearn.utils.validation.check_array"],
}


@dataclass
class TrainResult:
    kind: str
    name: str                # registered model name
    version: str             # the new model version (registered whether or not promoted)
    run_id: str
    model_uri: str
    metrics: dict[str, float]
    promoted: bool
    reason: str
    champion_version: str | None = None        # the champion it was compared with
    champion_metrics: dict[str, float] = field(default_factory=dict)
    model: Any = None
    synthetic: bool = False                    # saw any synthetic row (tag data.synthetic)
    data_source: str = ""                      # tag data.source
    figures: dict[str, str] = field(default_factory=dict)  # eval.* and vs.* tags


def _pip_requirements() -> list[str]:
    reqs = []
    for dist in ("scikit-learn", "skops", "numpy", "pandas", "scipy", "wasmops"):
        try:
            reqs.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    return reqs


# ----------------------------------------------------------------------------------------------
# Evaluation and the promotion gate

def evaluate(kind: str, model, train_df: pd.DataFrame, holdout_df: pd.DataFrame) -> dict[str, float]:
    """anomaly: roc_auc, pr_auc, threshold, ... on labelled holdout rows.
    cost: mae, baseline_mae, mae_ratio of the forecast over the holdout that follows train_df."""
    if kind == "anomaly":
        return model.evaluate(holdout_df)
    return model.evaluate(train_df, holdout_df)


def decide(kind: str, cand: dict, champ: dict | None, *, margin: float = 0.005,
           tolerance: float = 0.0, champion_version: str | None = None) -> tuple[bool, str]:
    """(promote?, reason). Anomaly: ROC-AUC and PR-AUC no worse (within ``tolerance``) and at least
    one better by ``margin``. Cost: MAE lower by a relative ``margin``."""
    if champ is None:
        return True, "there was no champion before"
    who = f"champion v{champion_version}" if champion_version else "champion"
    if kind == "anomaly":
        keys = ("roc_auc", "pr_auc")
        worse = [k for k in keys if cand[k] < champ[k] - tolerance]
        if worse:
            return False, "worse than " + who + ": " + ", ".join(
                f"{k} {cand[k]:.4f} < {champ[k]:.4f}" for k in worse)
        better = [k for k in keys if cand[k] >= champ[k] + margin]
        if not better:
            return False, (f"not better than {who} by {margin}: roc_auc {cand['roc_auc']:.4f} vs "
                           f"{champ['roc_auc']:.4f}, pr_auc {cand['pr_auc']:.4f} vs {champ['pr_auc']:.4f}")
        return True, "better than " + who + ": " + ", ".join(
            f"{k} {cand[k]:.4f} vs {champ[k]:.4f}" for k in keys)
    if cand["mae"] < champ["mae"] * (1 - margin):
        return True, f"better than {who}: mae {cand['mae']:.5g} < {champ['mae']:.5g}"
    return False, f"not better than {who}: mae {cand['mae']:.5g} vs {champ['mae']:.5g} (margin {margin:.1%})"


def _fit(kind: str, train_df: pd.DataFrame, params: dict | None):
    if kind == "anomaly":
        return AnomalyModel(**(params or {})).fit(train_df)
    if kind == "cost":
        return CostForecaster(**(params or {})).fit(train_df)
    raise ValueError(f"unknown model kind {kind!r}: expected 'anomaly' or 'cost'")


def _lineage(train_df, holdout_df, champion_version) -> str:
    def span(df):
        ts = pd.to_datetime(df["ts"], utc=True)
        return [str(ts.min()), str(ts.max())]
    return json.dumps({"train_rows": len(train_df), "train_span": span(train_df),
                       "holdout_rows": len(holdout_df), "holdout_span": span(holdout_df),
                       "modules": int(train_df["module"].nunique()),
                       "compared_with_champion": champion_version})


def _gate(kind, metrics, champ_metrics, margin, champ_version, synthetic: bool, allow_synthetic: bool):
    promote, reason = decide(kind, metrics, champ_metrics, margin=margin, champion_version=champ_version)
    if synthetic and not allow_synthetic:
        return False, (f"trained on synthetic telemetry (data.synthetic=true): not promoted without "
                       f"--allow-synthetic ({'otherwise it would be: ' if promote else ''}{reason})")
    if synthetic and promote:      # the audit trail says so, not only the MLflow tag
        return promote, f"{reason}; trained on synthetic telemetry (data.synthetic=true), allowed by --allow-synthetic"
    return promote, reason


def train_and_register(kind: str, train_df: pd.DataFrame, holdout_df: pd.DataFrame, *,
                       gx_result_id: str, data_digest: str, code_version: str,
                       tracking_uri: str | None = None, artifact_location: str | None = None,
                       model=None, params: dict | None = None, margin: float | None = None,
                       synthetic: bool | None = None, data_source: str | None = None,
                       allow_synthetic: bool = False, baseline: dict | None = None,
                       decisions_dir: str | Path | None = None, extra_tags: dict | None = None) -> TrainResult:
    """Fit (or take ``model``, already fitted), evaluate on ``holdout_df``, log and register it, then
    promote it to ``@champion`` if it beats the current champion on the same holdout.

    ``margin``: anomaly, the least gain in ROC-AUC or PR-AUC (default 0.005); cost, the least
    relative MAE gain (default 0.01). Both models are scored on the same holdout here, so the
    comparison does not trust metrics recorded when the champion was trained.

    Provenance: ``synthetic`` (None: True when ``train_df`` carries the synthesizer's labels) is
    tagged ``data.synthetic``; a synthetic model is registered but never promoted unless
    ``allow_synthetic``. ``data_source`` is tagged ``data.source``; ``baseline`` maps a baseline's
    name to its metrics on the same holdout (tagged ``vs.baseline_<name>.*`` beside ``vs.champion_*``).
    Each version gets a description (what it was judged on, what it was weighed against, the data);
    a promotion is recorded by :func:`models.governance.set_champion` (decision records in
    ``decisions_dir`` when given).

    Concurrency: separate processes may train at once (the SQLite schema is created once, under a
    file lock); within one process, call this from one thread at a time, since it points mlflow's
    global fluent API at ``tracking_uri`` for the duration. Two candidates racing for the alias
    are each compared with the champion they saw; the later ``set alias`` wins.
    """
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    if kind not in NAMES:
        raise ValueError(f"unknown model kind {kind!r}: expected 'anomaly' or 'cost'")
    if kind == "anomaly" and holdout_df["is_anomaly"].nunique() < 2:
        raise ValueError("the anomaly holdout needs both labelled anomalies and normal rows")
    synthetic = ("is_anomaly" in train_df.columns) if synthetic is None else bool(synthetic)
    source = data_source or ("dataframe with synthetic labels" if synthetic else "dataframe")
    uri, art = _resolve(tracking_uri, artifact_location)
    ensure_store(uri)
    client = MlflowClient(uri, registry_uri=uri)
    name = NAMES[kind]
    margin = (0.005 if kind == "anomaly" else 0.01) if margin is None else margin
    model = model if model is not None else _fit(kind, train_df, params)
    metrics = evaluate(kind, model, train_df, holdout_df)

    champ_info, champ_metrics = _champion_info(client, name), None
    champ_version = champ_info and champ_info["version"]
    if champ_info is not None:
        champ_metrics = evaluate(kind, _load_version(uri, kind, name, champ_version), train_df, holdout_df)
    promote, reason = _gate(kind, metrics, champ_metrics, margin, champ_version, synthetic, allow_synthetic)
    figures = figures_tags(metrics, champ_metrics, champ_version, baseline)
    tags = {"wasmops.kind": kind, "wasmops.data_digest": data_digest, "wasmops.gx_result_id": gx_result_id,
            "wasmops.code_version": code_version, "mlflow.source.git.commit": code_version,
            "wasmops.lineage": _lineage(train_df, holdout_df, champ_version),
            "data.synthetic": str(synthetic).lower(), "data.source": source, **(extra_tags or {})}
    run, mv = _log_and_register(kind, name, model, train_df, holdout_df, metrics, champ_metrics, margin,
                                tags, uri, art, client, data_digest)
    verdict = "promoted" if promote else "rejected"
    for k, v in {"promotion": verdict, "promotion_reason": reason, **figures}.items():
        client.set_model_version_tag(name, mv.version, k, v)
    client.update_model_version(name, mv.version, description=describe_version(
        kind, mv.version, metrics, figures, source, synthetic, verdict, reason))
    client.update_registered_model(name, description=MODEL_DESCRIPTIONS[kind])
    for k, v in {"promotion": verdict, "promotion_reason": reason, "registered_version": mv.version}.items():
        client.set_tag(run.info.run_id, k, v)
    if promote:
        from models.governance import set_champion  # noqa: PLC0415

        data = {"synthetic": synthetic, "source": source, "allow_synthetic": allow_synthetic}
        set_champion(client, name, str(mv.version), reason=reason, decisions_dir=decisions_dir, data=data)
    return TrainResult(kind=kind, name=name, version=str(mv.version), run_id=run.info.run_id,
                       model_uri=f"models:/{name}/{mv.version}", metrics=metrics, promoted=promote,
                       reason=reason, champion_version=champ_version,
                       champion_metrics=champ_metrics or {}, model=model, synthetic=synthetic,
                       data_source=source, figures=figures)


def _log_and_register(kind, name, model, train_df, holdout_df, metrics, champ_metrics, margin, tags, uri, art,
                      client, data_digest):
    from mlflow.models import infer_signature  # noqa: PLC0415

    inputs = list(ANOMALY_INPUTS if kind == "anomaly" else COST_INPUTS)
    example = train_df[inputs].head(200 if kind == "cost" else 20).reset_index(drop=True)
    with _using(uri) as mlflow, mlflow.start_run(experiment_id=_experiment_id(client, name, art),
                                                 run_name=f"{kind}-{data_digest[-12:]}") as run:
        mlflow.set_tags(tags)
        mlflow.log_params({**{k: str(v) for k, v in model.get_params().items()},
                           "n_train": len(train_df), "n_holdout": len(holdout_df), "margin": margin})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})
        if getattr(model, "champions_", None) is not None:   # the cost model: which forecast serves each module
            _log_champions(mlflow, model)
        if champ_metrics:
            mlflow.log_metrics({f"champion_{k}": float(v) for k, v in champ_metrics.items() if v == v})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            signature = infer_signature(example, model.predict(example))
            info = mlflow.sklearn.log_model(
                sk_model=model, name="model", serialization_format="skops",
                skops_trusted_types=TRUSTED_TYPES[kind], pip_requirements=_pip_requirements(),
                signature=signature)
        mv = mlflow.register_model(info.model_uri, name, await_registration_for=0, tags=tags)
    return run, mv


def _log_champions(mlflow, model) -> None:
    """Tag ``forecast.champions`` (how many modules each forecast serves) and log each module's
    champion with its backtest MAE per candidate (``forecast_champions.json``)."""
    from models.forecast_champions import counts  # noqa: PLC0415

    mlflow.set_tag("forecast.champions", counts(model.champions_.values()) or "none")
    mlflow.set_tag("forecast.champion_origins", str(model.champion_origins_))
    mlflow.log_dict({m: {"champion": c, "backtest_mae": model.champion_mae_.get(m, {})}
                     for m, c in model.champions_.items()}, "forecast_champions.json")


# ----------------------------------------------------------------------------------------------
# Loading

def _champion_info(client, name: str) -> dict | None:
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    try:
        mv = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    return {"name": name, "version": str(mv.version), "alias": CHAMPION, "run_id": mv.run_id}


def _load_version(uri: str, kind: str, name: str, version: str):
    """Load one registered version's sklearn flavor with *our* skops allow-list.

    ``mlflow.sklearn.load_model`` would trust the type list written in the artifact's own MLmodel
    file, and refuses unless ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true``. We download the
    version, check that its sklearn flavor was saved with skops, and call ``skops.io.load`` with
    :data:`TRUSTED_TYPES` from this code, so a tampered artifact cannot widen what gets built.
    The result is our own estimator class (AnomalyModel / CostForecaster), methods included.
    """
    import mlflow  # noqa: PLC0415
    import skops.io  # noqa: PLC0415
    from mlflow.models import Model  # noqa: PLC0415

    with _using(uri):  # resolving models:/ reads the fluent API's registry URI
        local = Path(mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version}", tracking_uri=uri, registry_uri=uri))
    flavor = Model.load(local / "MLmodel").flavors.get("sklearn", {})
    if flavor.get("serialization_format") != "skops":
        raise ValueError(f"{name} v{version} was not saved with skops; refusing to load it")
    return skops.io.load(local / flavor["pickled_model"], trusted=TRUSTED_TYPES[kind])


def _registry_client(kind: str, tracking_uri: str | None, *, create: bool = True):
    """(tracking URI, MlflowClient) for the store of ``kind``'s registered model (schema ensured);
    ``(uri, None)`` for a reader (``create=False``) when the store was never created."""
    if kind not in NAMES:
        raise ValueError(f"unknown model kind {kind!r}: expected 'anomaly' or 'cost'")
    uri, _ = _resolve(tracking_uri, None)
    if not create and never_created(uri):
        return uri, None
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    ensure_store(uri)
    client = MlflowClient(uri, registry_uri=uri)
    return uri, client


def load_champion(kind: str, *, tracking_uri: str | None = None):
    """``(model, {name, version, alias, run_id})`` for ``models:/wasmops-<kind>@champion``.

    The alias is resolved to its version first and that version is loaded (so the returned info
    always matches the model, even if the alias moves meanwhile), from its sklearn flavor with
    skops and our own allow-list (see :func:`_load_version`). The model is the fitted
    :class:`AnomalyModel` / :class:`CostForecaster` itself, so score, predict, explain and forecast
    work. Raises LookupError when no champion exists.
    """
    uri, client = _registry_client(kind, tracking_uri, create=False)
    if client is None:
        raise LookupError(f"no {CHAMPION} alias on {NAMES[kind]}: no model registry at {uri} yet")
    info = _champion_info(client, NAMES[kind])
    if info is None:
        raise LookupError(f"no {CHAMPION} alias on {NAMES[kind]} in {uri}")
    return _load_version(uri, kind, info["name"], info["version"]), info


def load_challenger(kind: str, *, tracking_uri: str | None = None):
    """``(model, {name, version, alias: None, role: challenger, ...})`` for the latest registered
    version that is not ``@champion``, or ``(None, {})`` when there is none."""
    from models.governance import challenger_version  # noqa: PLC0415

    uri, client = _registry_client(kind, tracking_uri, create=False)
    if client is None:
        return None, {}
    version = challenger_version(client, NAMES[kind])
    if version is None:
        return None, {}
    mv = client.get_model_version(NAMES[kind], version)
    info = {"name": NAMES[kind], "version": version, "alias": None, "role": "challenger", "run_id": mv.run_id,
            "synthetic": mv.tags.get("data.synthetic")}
    return _load_version(uri, kind, NAMES[kind], version), info
