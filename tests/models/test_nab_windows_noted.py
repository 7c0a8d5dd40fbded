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


def test_labels_in_epoch_seconds_or_with_zones_match_the_rows_they_name(goog, tmp_path):
    """The real GOOG series with epoch-second timestamps (which the data reader takes) and its NAB
    windows written in epoch seconds too: they were refused ('year 1425... is out of range'). Zoned
    labels on unzoned times are read in UTC, now with a note (the reverse case had one already)."""
    t = pd.to_datetime(goog["timestamp"])
    epoch = goog.assign(timestamp=(t - pd.Timestamp("1970-01-01")) // pd.Timedelta("1s"))
    _write(tmp_path / "e", NAME, epoch)
    _write(tmp_path / "z", NAME, goog)
    wins = json.loads(LABELS.read_text())[NAME]
    as_epoch = [[str(int(pd.Timestamp(x).timestamp())) for x in w] for w in wins]
    as_zoned = [[pd.Timestamp(x).tz_localize("UTC").tz_convert("+02:00").isoformat() for x in w] for w in wins]
    (tmp_path / "e.json").write_text(json.dumps({NAME: as_epoch}))
    (tmp_path / "z.json").write_text(json.dumps({NAME: as_zoned}))
    plain = load_corpus(tmp_path / "z", LABELS, [])[0].windows
    notes_e, notes_z = [], []
    assert load_corpus(tmp_path / "e", tmp_path / "e.json", notes_e)[0].windows == plain
    assert load_corpus(tmp_path / "z", tmp_path / "z.json", notes_z)[0].windows == plain
    assert any("its labels carry zones and its times do not; its times are read as UTC" in n for n in notes_z)


def test_one_value_that_is_not_a_number_is_said_in_the_singular(goog, tmp_path):
    bad = goog.head(3000).copy()
    bad.loc[bad.index[100], "value"] = "n/a"
    _write(tmp_path, NAME, bad)
    notes = []
    load_corpus(tmp_path, LABELS, notes)
    assert any("1 value is not a number (the first, 'n/a', on line 102)" in n for n in notes), notes


def test_a_stray_csv_without_the_header_is_skipped_with_a_note_unless_labelled(goog, tmp_path):
    """A header-less copy of GOOG's rows (as some exporters write) beside the real series stopped
    the whole benchmark with an error; unlabelled, it is now noted and skipped. A labelled series
    without the header is still an error naming the file."""
    from wasmops.errors import SpecError

    _write(tmp_path, NAME, goog.head(3000))
    goog.head(50).to_csv(tmp_path / "realTweets" / "export.csv", index=False, header=False)
    notes = []
    corpus = load_corpus(tmp_path, LABELS, notes)
    assert [s.name for s in corpus] == [NAME]
    assert any(n.startswith("realTweets/export.csv: no timestamp,value header") for n in notes), notes
    quoted = tmp_path / "realTweets" / "quoted.csv"                 # a quoted header is a header
    quoted.write_text('"timestamp","value"\r\n' + "".join(f'"{t}","{v}"\r\n' for t, v in goog.head(500).values))
    assert "realTweets/quoted.csv" in [s.name for s in load_corpus(tmp_path, LABELS, [])]
    quoted.unlink()
    goog.head(3000).to_csv(tmp_path / NAME, index=False, header=False)
    with pytest.raises(SpecError, match="needs the columns timestamp,value"):
        load_corpus(tmp_path, LABELS, [])


def test_nab_point_labels_and_windowless_labels_are_told_what_they_are(goog, tmp_path):
    """NAB ships combined_labels.json (anomaly points) beside combined_windows.json; given the former,
    the error now names it. Labels giving the series no window no longer say 'see the notes above'
    with no note above."""
    from typer.testing import CliRunner

    from wasmops.cli import app

    _write(tmp_path / "d", NAME, goog.head(3000))
    (tmp_path / "points.json").write_text(json.dumps({NAME: ["2015-03-05 10:00:00.000000"]}))
    (tmp_path / "none.json").write_text(json.dumps({NAME: []}))
    r = CliRunner().invoke(app, ["models", "benchmark", str(tmp_path / "d"), "--labels", str(tmp_path / "points.json")])
    said = r.exception.diagnostics()
    assert r.exit_code != 0 and "combined_labels.json (anomaly points); give combined_windows.json" in said, said
    r = CliRunner().invoke(app, ["models", "benchmark", str(tmp_path / "d"), "--labels", str(tmp_path / "none.json")])
    said = r.exception.diagnostics()
    assert r.exit_code != 0 and "the labels give none of them a window" in said and "notes above" not in said, said
