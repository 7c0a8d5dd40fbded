"""Every labelled window is either scored or noted (training part, outside the series' time range),
and labels that name absent series are noted: the benchmark never drops one silently."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.nab_io import load_corpus

NAB = Path(__file__).resolve().parents[3] / "shared" / "data" / "nab"
LABELS = NAB / "labels" / "combined_windows.json"
NAME = "realTweets/Twitter_volume_GOOG.csv"


def _write(root: Path, name: str, df: pd.DataFrame) -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(root / name, index=False)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.integers(0, 15000), rows=st.integers(1, 15842), shift_days=st.integers(-400, 400))
def test_every_window_is_scored_or_noted(goog, tmp_path_factory, first, rows, shift_days):
    part = goog.iloc[first:first + rows].copy()
    part["timestamp"] = (pd.to_datetime(part["timestamp"]) + pd.Timedelta(days=shift_days)).astype(str)
    root = tmp_path_factory.mktemp("nab")
    _write(root, NAME, part)
    notes: list[str] = []
    (ser,) = load_corpus(root, LABELS, notes)
    wins = json.loads(LABELS.read_text())[NAME]
    noted = [n for n in notes if n.startswith(f"{NAME}: labelled window ")]
    assert len(ser.windows) + len(noted) == len(wins), (ser.windows, noted)
    for lo, hi in ser.windows:
        assert hi >= ser.n_train
    for n in noted:
        assert n.endswith("not scored") or n.endswith("dropped")


def test_absent_series_are_counted_in_one_line(goog, tmp_path):
    _write(tmp_path, NAME, goog)
    notes: list[str] = []
    load_corpus(tmp_path, LABELS, notes)
    absent = set(json.loads(LABELS.read_text())) - {NAME}
    (line,) = [x for x in notes if "labelled series are not under" in x]
    assert f"{len(absent)} labelled series are not under" in line, line


def test_a_few_absent_series_are_named_each(goog, tmp_path):
    labels = json.loads(LABELS.read_text())
    absent = sorted(set(labels) - {NAME})[:3]
    small = tmp_path / "labels.json"
    small.write_text(json.dumps({k: labels[k] for k in [NAME, *absent]}))
    _write(tmp_path / "data", NAME, goog)
    notes: list[str] = []
    load_corpus(tmp_path / "data", small, notes)
    assert {n for n in absent if any(f": {n}: labelled but not under" in x for x in notes)} == set(absent)


@pytest.mark.parametrize("where", ["category", "parent"])
def test_labels_one_directory_off_give_a_hint(goog, tmp_path, where):
    data = tmp_path / "nab" / "data"
    _write(data, NAME, goog.head(500))
    shutil.copy(NAB / "data" / "realAdExchange" / "exchange-2_cpc_results.csv", tmp_path / "x.csv")
    _write(data, "realAdExchange/exchange-2_cpc_results.csv", pd.read_csv(tmp_path / "x.csv", dtype=str))
    given_dir = data / "realTweets" if where == "category" else tmp_path / "nab"
    notes: list[str] = []
    load_corpus(given_dir, LABELS, notes)
    assert any(f"give {data} as DATA_DIR" in n for n in notes), notes
