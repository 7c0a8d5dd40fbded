"""Shared synthetic telemetry and fitted models for the ML tests (small, built once per session)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from wasmops.telemetry.synth import synthesize  # noqa: E402


NAB = Path(__file__).resolve().parents[3] / "shared" / "data" / "nab"
GOOG = NAB / "data" / "realTweets" / "Twitter_volume_GOOG.csv"


@pytest.fixture(scope="session")
def _goog_csv() -> pd.DataFrame:
    if not GOOG.exists():
        pytest.skip("NAB data not available")
    return pd.read_csv(GOOG, dtype=str)


@pytest.fixture(scope="module")
def goog(_goog_csv) -> pd.DataFrame:
    """The real Twitter_volume_GOOG series as written (strings), a copy per test module."""
    return _goog_csv.copy()


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
