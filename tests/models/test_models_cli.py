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


def test_benchmark_raises_no_alarm_in_the_training_part(data_dir, tmp_path):
    from models.nab_io import train_rows

    out = tmp_path / "scores.csv"
    r = CliRunner().invoke(app, ["models", "benchmark", str(data_dir), "--labels",
                                 str(NAB / "labels" / "combined_windows.json"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out)
    for f, g in df.groupby("file"):
        assert g["alarm"].iloc[:train_rows(len(g))].sum() == 0, f


@pytest.mark.parametrize("args,error", [
    (["--horizon", "0"], "greater than or equal to 1"),
    (["--horizon", "-5"], "greater than or equal to 1"),
    (["--horizon", "5000"], "less than or equal to 672"),
])
def test_backtest_horizon_is_checked_before_any_work(tmp_path, args, error):
    src = tmp_path / "s.csv"
    src.write_text("timestamp,value\n2024-03-01 00:00:00,1\n")
    r = CliRunner().invoke(app, ["models", "backtest-forecast", str(src), *args])
    assert r.exit_code == 2 and error in " ".join(r.output.split()), r.output


def test_backtest_short_series_and_gaps_are_explained(tmp_path):
    import numpy as np

    ts = pd.date_range("2024-01-01", periods=24 * 23, freq="h")
    src = tmp_path / "short.csv"
    pd.DataFrame({"timestamp": ts, "value": np.arange(len(ts)) % 24}).to_csv(src, index=False)
    r = CliRunner().invoke(app, ["models", "backtest-forecast", str(src)])
    from wasmops.errors import SpecError

    assert isinstance(r.exception, SpecError) and "552 hours is too short for a 168 h backtest" in str(r.exception)
    assert str(src) in str(r.exception)         # the CLI prints it as one line naming the file (errors.py)
    ts = pd.date_range("2024-01-01", periods=24 * 40, freq="h")
    keep = (ts < "2024-01-20") | (ts >= "2024-01-24")               # four days with no rows
    gap = tmp_path / "gap.csv"
    pd.DataFrame({"timestamp": ts[keep], "value": 5.0}).to_csv(gap, index=False)
    r = CliRunner().invoke(app, ["models", "backtest-forecast", str(gap)])
    assert r.exit_code == 0 and "96 of 960 hours have no rows and count as 0" in " ".join(r.output.split()), r.output
