"""wasmops ML: anomaly detection over module telemetry, cost forecasting, MLflow registry, bias audit.

Example::

    >>> from models import AnomalyModel, CostForecaster
    >>> from wasmops.telemetry import synthesize
    >>> train_df = synthesize(modules=3, days=21)          # telemetry samples (here synthetic)
    >>> new_df = train_df.tail(3)

Training takes seconds (the forecaster's boosted trees most), so these lines are not run here::

    >>> anomaly = AnomalyModel().fit(train_df)              # doctest: +SKIP
    >>> anomaly.predict(new_df), anomaly.explain(new_df.iloc[0]).top_feature  # doctest: +SKIP
    (array([False, False, False]), 'fuel_per_call')
    >>> CostForecaster().fit(train_df).forecast_rest_of_month(train_df, "2025-01-26T12:00Z").per_team  # doctest: +SKIP

Modules: ``features`` (anomaly and forecast features, ``row_cost``), ``anomaly``, ``forecast``,
``registry`` (MLflow) and ``audit``. Every name here is imported on first use (PEP 562): sklearn and
mlflow cost seconds of CPU per process to import, and ``models.detector``, ``models.monitor`` or
``models.mlflow_store`` need neither.
No Prefect here: ``tasks/`` and ``flows/`` wrap these functions.
"""

from __future__ import annotations

_REGISTRY = {"train_and_register", "load_champion", "TrainResult", "ensure_store", "default_store"}

__all__ = [
    "ANOMALY_FEATURES", "AnomalyModel", "AuditResult", "CostForecaster", "Explanation",
    "FeatureContribution", "MonthForecast", "Prices", "RobustModuleScaler", "bias_audit",
    "forecast_rest_of_month", "row_cost", "seasonal_naive", *sorted(_REGISTRY),
]


_WHERE = {**dict.fromkeys(("AnomalyModel", "Explanation", "FeatureContribution"), "anomaly"),
          **dict.fromkeys(("AuditResult", "bias_audit"), "audit"),
          **dict.fromkeys(("ANOMALY_FEATURES", "Prices", "RobustModuleScaler", "row_cost"), "features"),
          **dict.fromkeys(("CostForecaster", "MonthForecast", "forecast_rest_of_month", "seasonal_naive"), "forecast"),
          **dict.fromkeys(_REGISTRY, "registry")}


def __getattr__(name: str):
    if name in _WHERE:
        import importlib  # noqa: PLC0415

        value = globals()[name] = getattr(importlib.import_module(f"models.{_WHERE[name]}"), name)
        return value
    raise AttributeError(f"module 'models' has no attribute {name!r}")
