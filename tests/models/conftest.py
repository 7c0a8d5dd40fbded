"""Shared synthetic telemetry and fitted models for the ML tests (small, built once per session)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from wasmops.telemetry.synth import synthesize  # noqa: E402


def split_final_week(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    cut = pd.to_datetime(df["ts"], utc=True).max().floor("h") - pd.Timedelta(hours=167)
    return df[df["ts"] < cut].reset_index(drop=True), df[df["ts"] >= cut].reset_index(drop=True)


@pytest.fixture(scope="session")
def data() -> pd.DataFrame:
    """30 modules of 5 teams x 4 weeks hourly, ~1 % injected anomalies."""
    return synthesize(modules=30, teams=5, days=28, seed=7)


@pytest.fixture(scope="session")
def split(data):
    """(train: first 3 weeks, holdout: the final week)."""
    return split_final_week(data)


@pytest.fixture(scope="session")
def anomaly_model(split):
    from models.anomaly import AnomalyModel

    return AnomalyModel().fit(split[0])


@pytest.fixture(scope="session")
def forecaster(split):
    from models.forecast import CostForecaster

    return CostForecaster().fit(split[0])
