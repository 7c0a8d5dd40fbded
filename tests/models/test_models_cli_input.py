"""`wasmops models backtest-forecast` and `benchmark` on awkward input derived from real NAB series:
one clear line or an honest note, never a traceback or a silent nan."""

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from wasmops.cli import app

NAB = Path(__file__).resolve().parents[3] / "shared" / "data" / "nab"
GOOG = NAB / "data" / "realTweets" / "Twitter_volume_GOOG.csv"


def _flat(r) -> str:
    return " ".join(r.output.split())


@pytest.fixture(scope="module")
def goog() -> pd.DataFrame:
    if not GOOG.exists():
        pytest.skip("NAB data not available")
    return pd.read_csv(GOOG, dtype=str)


def _backtest(*args):
    return CliRunner().invoke(app, ["models", "backtest-forecast", *map(str, args)])


def test_backtest_across_a_four_week_gap(goog, tmp_path):
    t = pd.to_datetime(goog["timestamp"])
    src = tmp_path / "gap4w.csv"
    goog[~((t > "2015-03-01") & (t < "2015-03-29"))].to_csv(src, index=False)
    r = _backtest(src, "--horizon", "168")
    assert r.exit_code == 0 and r.exception is None, r.output
    assert "champion" in r.output
