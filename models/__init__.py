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
``registry`` (MLflow; imported lazily, as mlflow is slow to import) and ``audit``.
No Prefect here: ``tasks/`` and ``flows/`` wrap these functions.
"""

from __future__ import annotations

from models.anomaly import AnomalyModel, Explanation, FeatureContribution
from models.audit import AuditResult, bias_audit
from models.features import ANOMALY_FEATURES, Prices, RobustModuleScaler, row_cost
from models.forecast import CostForecaster, MonthForecast, forecast_rest_of_month, seasonal_naive

_REGISTRY = {"train_and_register", "load_champion", "TrainResult", "ensure_store", "default_store"}

__all__ = [
    "ANOMALY_FEATURES", "AnomalyModel", "AuditResult", "CostForecaster", "Explanation",
    "FeatureContribution", "MonthForecast", "Prices", "RobustModuleScaler", "bias_audit",
    "forecast_rest_of_month", "row_cost", "seasonal_naive", *sorted(_REGISTRY),
]


def __getattr__(name: str):
    if name in _REGISTRY:
        from models import registry  # noqa: PLC0415

        return getattr(registry, name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")
