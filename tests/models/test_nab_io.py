"""NAB-format data as operators have it (models.nab_io), found from outside: day-first dates, DST
offsets, epoch times, symlink loops, broken links, label files with numbers or repeated windows.
Inputs are generated here (hypothesis) or written by hand in the test."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from models.nab_io import find_csvs, load_corpus, read_labels, read_timestamp_value
from wasmops.errors import SpecError


def _csv(path, stamps, values=None):
    values = values if values is not None else np.arange(len(stamps), dtype=float)
    path.write_text("timestamp,value\n" + "".join(f"{t},{v}\n" for t, v in zip(stamps, values)))
    return path


@settings(max_examples=30, deadline=None)
@given(start=st.datetimes(min_value=pd.Timestamp("2000-01-01").to_pydatetime(),
                          max_value=pd.Timestamp("2030-01-01").to_pydatetime()),
       minutes=st.sampled_from([5, 60, 24 * 60]), n=st.integers(3, 400),
       layout=st.sampled_from(["%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%Y-%m-%dT%H:%M:%S", "%d.%m.%Y %H:%M"]))
def test_any_layout_in_file_order_reads_back_the_times_written(tmp_path_factory, start, minutes, n, layout):
    ts = pd.date_range(pd.Timestamp(start).floor("min"), periods=n, freq=f"{minutes}min")
    notes: list = []
    _raw, idx, _v, _ = read_timestamp_value(_csv(tmp_path_factory.mktemp("d") / "s.csv", ts.strftime(layout)), notes)
    ambiguous = any("ambiguous" in x for x in notes)
    if ambiguous:          # every day <= 12 and both orders run forward alike: month first, and said so
        assert layout.startswith(("%d", "%m"))
        return
    assert list(idx) == list(ts), notes


def test_utc_offsets_across_a_dst_change_are_read_in_utc(tmp_path):
    local = pd.date_range("2024-03-30 22:00", periods=60, freq="15min", tz="Europe/Berlin")
    _raw, idx, _v, _ = read_timestamp_value(_csv(tmp_path / "s.csv", [t.isoformat() for t in local]))
    assert list(idx.tz_convert("UTC")) == list(local.tz_convert("UTC"))
    with pytest.raises(SpecError, match=r"line 3 .* has no time zone and line 2"):
        read_timestamp_value(_csv(tmp_path / "m.csv", ["2024-03-01T10:00:00+01:00", "2024-03-01 10:05:00"]))


@pytest.mark.parametrize("unit,scale", [("seconds", 1), ("milliseconds", 1000)])
def test_epoch_times(tmp_path, unit, scale):
    ts = pd.date_range("2024-03-01", periods=10, freq="5min")
    notes: list = []
    _raw, idx, _v, _ = read_timestamp_value(_csv(tmp_path / "e.csv", [int(t.timestamp()) * scale for t in ts]), notes)
    assert list(idx) == list(ts) and any(unit in x for x in notes)


def test_repeats_and_inf_are_noted_and_counted(tmp_path):
    notes: list = []
    p = _csv(tmp_path / "r.csv", ["2024-03-01 10:00", "2024-03-01 10:05", "2024-03-01 10:05", "2024-03-01 10:10"],
             [1, 2, 3, "inf"])
    _raw, _idx, values, non_numeric = read_timestamp_value(p, notes)
    assert non_numeric == 1 and np.isnan(values[3])
    assert any("1 timestamps repeat (1 with different values)" in x for x in notes)


def test_a_symlink_loop_broken_link_hidden_and_upper_case_files(tmp_path):
    root = tmp_path / "data"
    (root / "aws").mkdir(parents=True)
    ts = pd.date_range("2024-03-01", periods=20, freq="5min").strftime("%Y-%m-%d %H:%M:%S")
    _csv(root / "aws" / "a.csv", ts)
    _csv(root / "aws" / "B.CSV", ts)
    _csv(root / "aws" / ".hidden.csv", ts)
    os.symlink("..", root / "aws" / "loop")
    os.symlink(root / "gone.csv", root / "aws" / "dangling.csv")
    notes: list = []
    got = [p.relative_to(root).as_posix() for p in find_csvs(root, notes)]
    assert got == ["aws/B.CSV", "aws/a.csv"]
    assert any("symlink loop" in x for x in notes) and any("dangling.csv: a broken symlink" in x for x in notes)


@pytest.mark.parametrize("text,error", [
    ('{"a.csv": [[1393422300, 1393482300]]}', r"a.csv\[0\]: times must be strings"),
    ('{"a.csv": [[null, "2014-02-27 06:25:00"]]}', r"a.csv\[0\]: times must be strings"),
    ('{"a.csv": [["2014-02-27T00:00:00Z", "2014-02-28 00:00:00"]]}', r"a.csv\[0\]: one end has a time zone"),
])
def test_label_times_that_are_not_strings_are_refused(tmp_path, text, error):
    p = tmp_path / "w.json"
    p.write_text(text)
    with pytest.raises(SpecError, match=error):
        read_labels(p)


def test_repeated_and_overlapping_windows_are_merged_and_unmatched_labels_noted(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    _csv(root / "s.csv", pd.date_range("2024-03-01", periods=200, freq="5min").strftime("%Y-%m-%d %H:%M:%S"))
    lab = tmp_path / "w.json"
    lab.write_text('{"s.csv": [["2024-03-01 12:00:00", "2024-03-01 13:00:00"], '     # the same window twice,
                   '["2024-03-01 12:00:00", "2024-03-01 13:00:00"], '                   # and one overlapping it
                   '["2024-03-01 12:30:00", "2024-03-01 14:00:00"]]}')
    notes: list = []
    (s,) = load_corpus(root, lab, notes)
    assert len(s.windows) == 1 and any("2 overlapping or repeated windows merged" in x for x in notes)
    lab.write_text('{"./s.csv": [["2024-03-01 12:00:00", "2024-03-01 13:00:00"]]}')
    notes = []
    load_corpus(root, lab, notes)
    assert any("none of its 1 entries names a series" in x for x in notes)
