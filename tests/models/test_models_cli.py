"""`wasmops models benchmark` and `backtest-forecast` on a small copy of two NAB files."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from wasmops.cli import app

NAB = Path(__file__).resolve().parents[3] / "shared" / "data" / "nab"
FILES = ["realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv", "realTweets/Twitter_volume_AMZN.csv"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    if not all((NAB / "data" / f).exists() for f in FILES):
        pytest.skip("NAB data not available")
    root = tmp_path_factory.mktemp("nab")
    for f in FILES:
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(NAB / "data" / f, root / f)
    tw = pd.read_csv(root / FILES[1]).head(2500)  # keep the test fast
    tw.to_csv(root / FILES[1], index=False)
    return root


def test_benchmark_writes_scores_and_prints_metrics(data_dir, tmp_path):
    out = tmp_path / "scores.csv"
    r = CliRunner().invoke(app, ["models", "benchmark", str(data_dir), "--labels",
                                 str(NAB / "labels" / "combined_windows.json"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "project" in r.output and "windowed_gaus" in r.output
    df = pd.read_csv(out)
    assert list(df.columns) == ["file", "timestamp", "value", "score", "alarm"]
    assert set(df["file"]) == set(FILES)
    first = pd.read_csv(data_dir / FILES[0])["timestamp"].iloc[0]
    assert df[df["file"] == FILES[0]]["timestamp"].iloc[0] == first


def test_backtest_forecast(tmp_path):
    src = NAB / "data" / FILES[1]
    if not src.exists():
        pytest.skip("NAB data not available")
    out = tmp_path / "fc.csv"
    r = CliRunner().invoke(app, ["models", "backtest-forecast", str(src), "--horizon", "168", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "champion" in r.output
    df = pd.read_csv(out)
    assert list(df.columns) == ["timestamp", "actual", "forecast", "naive168", "naive24"] and len(df) > 300
