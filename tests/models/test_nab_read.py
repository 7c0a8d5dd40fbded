"""`timestamp,value` files as operators have them (models.nab_eval.read_timestamp_value): any
column case, a BOM, shuffled rows, time zones; a bad row is an error naming the file and line."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from models.nab_eval import read_timestamp_value
from wasmops.errors import SpecError


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 60), header=st.sampled_from(["timestamp,value", "Timestamp,Value", " TIMESTAMP , value "]),
       bom=st.booleans(), zone=st.sampled_from(["", "Z", "+02:00"]), seed=st.integers(0, 2**31),
       bad_at=st.one_of(st.none(), st.integers(0, 59)))
def test_reads_what_operators_write_and_names_the_bad_line(tmp_path_factory, n, header, bom, zone, seed, bad_at):
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2025-03-01", periods=n, freq="5min")
    vals = rng.normal(10, 2, n).round(3)
    lines = [f"{t.strftime('%Y-%m-%dT%H:%M:%S')}{zone},{v}" for t, v in zip(ts, vals)]
    order = rng.permutation(n)
    shuffled = [lines[i] for i in order]
    if bad_at is not None and bad_at < n:
        shuffled[bad_at] = "yesterday-ish," + shuffled[bad_at].split(",")[1]
    p = tmp_path_factory.mktemp("csv") / "s.csv"
    p.write_text(("\ufeff" if bom else "") + header + "\n" + "\n".join(shuffled) + "\n", encoding="utf-8")
    if bad_at is not None and bad_at < n:
        with pytest.raises(SpecError, match=rf"timestamp: 'yesterday-ish' on line {bad_at + 2} is not a time") as e:
            read_timestamp_value(p)
        assert str(p) in str(e.value)
        return
    raw, idx, values, non_numeric = read_timestamp_value(p)
    assert idx.is_monotonic_increasing and len(idx) == n and non_numeric == 0
    assert np.allclose(values, vals)       # sorted back into time order
    assert (idx.tz is None) == (zone == "")


@pytest.mark.parametrize("text,error", [
    ("time,val\n2025-01-01,1\n", "needs the columns timestamp,value; found time, val"),
    ("timestamp,value\n", "no rows under the header"),
    ("timestamp,value\n2025-01-01 00:00:00,1\n2025-01-01T00:05:00Z,2\n", "line 3 .* has a time zone and line 2"),
])
def test_structural_errors_name_the_file(tmp_path, text, error):
    _refused(read_timestamp_value, tmp_path / "x.csv", text, error)


def _refused(reader, path, text: str, error: str) -> None:
    """``reader`` refuses ``text`` (written to ``path``) with ``error``, naming the file."""
    path.write_text(text)
    with pytest.raises(SpecError, match=error) as e:
        reader(path)
    assert str(path) in str(e.value)


def test_values_that_are_not_numbers_are_counted_and_kept_missing(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("timestamp,value\n2025-01-01 00:00,1\n2025-01-01 00:05,n/a\n2025-01-01 00:10,\n2025-01-01 00:15,3\n")
    _raw, _idx, values, non_numeric = read_timestamp_value(p)
    assert non_numeric == 1 and np.isnan(values[1]) and np.isnan(values[2]) and values[3] == 3


@pytest.mark.parametrize("text,error", [
    ("{oops", "not a JSON labels file"),
    ("[1, 2]", "expected an object"),
    ('{"a/b.csv": "2025-01-01"}', "a/b.csv: expected a list of"),
    ('{"a/b.csv": [["2025-01-01"]]}', r"a/b.csv\[0\]: expected \[start, end\]"),
    ('{"a/b.csv": [["2025-01-01", "2025-01-02"], ["2025-01-03", "yesterday"]]}', r"a/b.csv\[1\]: not a time"),
    ('{"a/b.csv": [["2025-01-03", "2025-01-02"]]}', r"a/b.csv\[0\]: ends before it starts"),
])
def test_label_file_errors_name_the_file_and_the_entry(tmp_path, text, error):
    from models.nab_eval import read_labels

    _refused(read_labels, tmp_path / "windows.json", text, error)
