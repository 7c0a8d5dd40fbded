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


def _backtest(*args):
    return CliRunner().invoke(app, ["models", "backtest-forecast", *map(str, args)])


def test_backtest_across_a_four_week_gap(goog, tmp_path):
    t = pd.to_datetime(goog["timestamp"])
    src = tmp_path / "gap4w.csv"
    goog[~((t > "2015-03-01") & (t < "2015-03-29"))].to_csv(src, index=False)
    r = _backtest(src, "--horizon", "168")
    assert r.exit_code == 0 and r.exception is None, r.output
    assert "champion" in r.output


def _bench(*args):
    return CliRunner().invoke(app, ["models", "benchmark", *map(str, args)])


@pytest.fixture()
def nab_dir(goog, tmp_path):
    """A NAB-layout directory holding the first 6,000 rows (three weeks, one window) of Twitter_volume_GOOG."""
    d = tmp_path / "data" / "realTweets"
    d.mkdir(parents=True)
    goog.head(6000).to_csv(d / GOOG.name, index=False)
    return tmp_path / "data", NAB / "labels" / "combined_windows.json"


@pytest.mark.parametrize("bad", ["missing/dir/out.csv", "."])
@pytest.mark.parametrize("cmd", ["benchmark", "backtest-forecast"])
def test_out_is_checked_before_any_work(nab_dir, tmp_path, monkeypatch, bad, cmd):
    import models.forecast_select
    import models.nab_eval
    from wasmops.errors import UserError

    def no_work(*a, **k):
        raise AssertionError("the run started before --out was checked")
    monkeypatch.setattr(models.nab_eval, "run_corpus", no_work)
    monkeypatch.setattr(models.forecast_select, "backtest", no_work)
    out = tmp_path / bad
    data, labels = nab_dir
    if cmd == "benchmark":
        r = _bench(data, "--labels", labels, "--out", out)
    else:
        r = _backtest(GOOG, "--out", out)
    assert isinstance(r.exception, UserError), r.output
    msg = str(r.exception)
    assert msg.startswith(f"{out}: --out") and "\n" not in msg, msg


def test_benchmark_with_nothing_left_to_score_exits_non_zero(nab_dir, goog, monkeypatch):
    import models.nab_eval
    from wasmops.errors import UserError

    monkeypatch.setattr(models.nab_eval, "run_corpus", lambda *a, **k: pytest.fail("ran with nothing to score"))
    data, labels = nab_dir
    shifted = goog.copy()
    shifted["timestamp"] = (pd.to_datetime(shifted["timestamp"]) + pd.Timedelta(days=365)).astype(str)
    shifted.to_csv(data / "realTweets" / GOOG.name, index=False)
    r = _bench(data, "--labels", labels)
    assert isinstance(r.exception, UserError) and "no labelled window is left to score" in str(r.exception), r.output
    assert "outside the series' time range" in _flat(r)


@pytest.mark.parametrize("name", ["scores.csv", "realTweets/run2.CSV"])
def test_benchmark_never_reads_its_own_output(nab_dir, monkeypatch, name):
    import models.nab_eval

    seen = []
    real = models.nab_eval.run_corpus
    monkeypatch.setattr(models.nab_eval, "run_corpus", lambda corpus, *a, **k: seen.append([s.name for s in corpus])
                        or real(corpus, *a))
    data, labels = nab_dir
    out = data / name
    for _ in range(2):
        r = _bench(data, "--labels", labels, "--out", out)
        assert r.exit_code == 0, r.output
    assert seen == [[f"realTweets/{GOOG.name}"]] * 2
    other = data / "copy_of_scores.csv"          # an earlier run's output under another name
    other.write_text(out.read_text())
    r = _bench(data, "--labels", labels)
    assert r.exit_code == 0 and seen[-1] == [f"realTweets/{GOOG.name}"], r.output
    assert "copy_of_scores.csv: a benchmark scores file" in _flat(r)


def test_backtest_scores_no_invented_zero_and_explains_a_zero_baseline(goog, tmp_path):
    t = pd.to_datetime(goog["timestamp"])
    gap = (t >= "2015-04-10 05:00") & (t < "2015-04-12 05:00")         # two days in the evaluated part
    src, out = tmp_path / "gap.csv", tmp_path / "fc.csv"
    goog[~gap].to_csv(src, index=False)
    r = _backtest(src, "--out", out)
    assert r.exit_code == 0, r.output
    assert "48 of the 396 hours forecast have no number and are not scored" in _flat(r)
    assert "(2015-02-26 21:00:00) has 4 rows where most have 12; a partial hour, left out" in _flat(r)
    df = pd.read_csv(out, parse_dates=["timestamp"])
    assert df["actual"].isna().sum() == 48
    assert df.loc[df["actual"].notna(), "actual"].min() > 0 and "348 hours" in _flat(r)
    zero = goog.assign(value="0")
    zero.to_csv(src, index=False)
    r = _backtest(src)
    assert r.exit_code == 0 and "exact on every scored hour (MAE 0" in _flat(r), r.output


def test_backtest_and_benchmark_name_bad_values_with_their_line(goog, nab_dir):
    data, labels = nab_dir
    src = data / "realTweets" / GOOG.name
    df = pd.read_csv(src, dtype=str)
    df.loc[1000:1030, "value"] = "abc"                                  # 31 rows, ~2.5 hours of them
    df.loc[3000, "value"] = "-100"
    df.to_csv(src, index=False)
    r = _backtest(src)
    notes = " ".join(r.stderr.split())
    assert "31 values are not numbers (the first, 'abc', on line 1002); read as missing" in notes
    assert "1 value is negative (the first, '-100', on line 3002)" in notes
    assert "hours have rows but no number" in notes and "have no rows" not in notes, r.stderr
    r = _bench(data, "--labels", labels)
    assert r.exit_code == 0, r.output
    assert "31 values are not numbers (the first, 'abc', on line 1002)" in " ".join(r.stderr.split())
    assert "not numbers" not in r.stdout


def test_benchmark_out_has_lf_line_endings(nab_dir, tmp_path):
    data, labels = nab_dir
    out = tmp_path / "scores.csv"
    r = _bench(data, "--labels", labels, "--out", out)
    assert r.exit_code == 0, r.output
    body = out.read_bytes()
    assert b"\r" not in body and body.count(b"\n") == 6001


def test_backtest_progress_counts_the_origins_it_makes(tmp_path, monkeypatch):
    """17 weeks of hours at --horizon 24: 56 origins over the last 30 % (and the 2 weeks before it
    that feed the champion choice), not one per day after the first 3 weeks (119): the progress
    said '55 of ~119 origins' and stopped there."""
    import numpy as np

    import models.forecast_select as fs

    made = []
    real_naive = fs._naive
    monkeypatch.setattr(fs, "_model", lambda y, t, origin, hours, it: made.append(origin) or real_naive(y, origin, hours, 168))
    ts = pd.date_range("2024-09-02", periods=17 * 168, freq="h")
    rng = np.random.default_rng(5)
    pd.DataFrame({"timestamp": ts.strftime("%Y-%m-%d %H:%M:%S"),
                  "value": rng.poisson(200 + 150 * np.sin(2 * np.pi * ts.hour.to_numpy() / 24))}).to_csv(
        tmp_path / "h.csv", index=False)
    r = CliRunner().invoke(app, ["models", "backtest-forecast", str(tmp_path / "h.csv"), "--horizon", "24"])
    assert r.exit_code == 0, r.output
    lines = [x for x in r.output.splitlines() if x.startswith("backtest: ")]
    assert lines and lines[-1] == f"backtest: {len(made)} of {len(made)} origins", lines


def test_backtest_says_when_the_model_row_is_the_naive_forecast(tmp_path):
    """A temperature-like hourly series below zero (generated, 6 weeks): the model (a cost forecaster,
    scaled by the weekly mean) cannot be fitted and silently forecast seasonal-naive-168 h, printed as
    'model 1.0' beside the real candidates. Now a note says so."""
    import numpy as np

    ts = pd.date_range("2026-01-05", periods=6 * 168, freq="h")
    rng = np.random.default_rng(2)
    v = -12 + 4 * np.sin(2 * np.pi * ts.hour.to_numpy() / 24) + rng.normal(0, 1, len(ts))
    pd.DataFrame({"timestamp": ts.strftime("%Y-%m-%d %H:%M:%S"), "value": v}).to_csv(tmp_path / "t.csv", index=False)
    r = _backtest(tmp_path / "t.csv", "--horizon", "24")
    assert r.exit_code == 0, r.output
    assert "the model could not be fitted at any origin" in _flat(r)


def test_benchmark_says_how_far_it_got_on_long_work(tmp_path, monkeypatch):
    """Three generated 1-minute series of 40 days (not NAB): 172,800 rows took ~10 s with nothing
    on the terminal; a line per series now says how far the benchmark got."""
    import json

    import numpy as np

    import wasmops.cli.models_cmd as cmd

    monkeypatch.setattr(cmd, "PROGRESS_ROWS", 20_000)           # the same path on a smaller input
    ts = pd.date_range("2025-01-01", periods=10 * 1440, freq="1min")
    rng = np.random.default_rng(1)
    for k in range(3):
        pd.DataFrame({"timestamp": ts.strftime("%Y-%m-%d %H:%M:%S"),
                      "value": np.round(rng.lognormal(3, 0.1, len(ts)), 3)}).to_csv(tmp_path / f"s{k}.csv", index=False)
    (tmp_path / "l.json").write_text(json.dumps({"s0.csv": [["2025-01-08 00:00:00", "2025-01-08 06:00:00"]]}))
    r = _bench(tmp_path, "--labels", tmp_path / "l.json")
    assert r.exit_code == 0, r.output
    lines = [x for x in r.output.splitlines() if x.startswith("benchmark: ")]
    assert lines[-1] == "benchmark: 3 of 3 series (43,200 of 43,200 rows)", lines


def test_benchmark_out_leaves_a_missing_value_unscored(goog, tmp_path):
    """A row with no number (written NaN, or empty) gets an empty value and score in --out, not
    ``nan`` with score 0 (found from outside, 2026-12-07); its neighbours keep their scores."""
    d = tmp_path / "data" / "realTweets"
    d.mkdir(parents=True)
    df = goog.head(6000).copy()
    df.loc[[2000, 4500], "value"] = ["NaN", ""]
    df.to_csv(d / GOOG.name, index=False)
    out = tmp_path / "scores.csv"
    r = _bench(tmp_path / "data", "--labels", NAB / "labels" / "combined_windows.json", "--out", out)
    assert r.exception is None and out.exists(), r.output
    rows = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(rows) == 6000
    for i in (2000, 4500):
        assert (rows.at[i, "value"], rows.at[i, "score"], rows.at[i, "alarm"]) == ("", "", "0"), rows.iloc[i]
        assert rows.at[i, "timestamp"] == df.at[i, "timestamp"]
        assert rows.at[i + 1, "score"] != "" and float(rows.at[i + 1, "value"]) == float(df.at[i + 1, "value"])
