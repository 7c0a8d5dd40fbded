"""The last loose ends of `models benchmark` / `backtest-forecast` input, on real NAB series.

Found from outside (2026-12-07): a quoted value with thousands separators (``"1,698"``) was read
as missing; `backtest-forecast` summed rows that share a timestamp into their hour while its note
said "every row is scored"; a constant series got no caveat beside the benchmark's figures though
no detector can alarm on it. Which rows get separators or repeats and the constant are drawn by
hypothesis over the real Twitter_volume_AAPL (values up to 13,479) and GOOG series; the flatline
series is NAB's own."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.detector import DetectorConfig
from models.nab_caveats import caveats
from models.nab_io import load_corpus, read_timestamp_value

from pathlib import Path

NAB = Path(__file__).resolve().parents[3] / "shared" / "data" / "nab"

AAPL = NAB / "data" / "realTweets" / "Twitter_volume_AAPL.csv"
FLAT = NAB / "data" / "artificialNoAnomaly" / "art_flatline.csv"
FIXTURE = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def aapl() -> pd.DataFrame:
    if not AAPL.exists():
        pytest.skip("NAB data not available")
    return pd.read_csv(AAPL, dtype=str)


def _write(df: pd.DataFrame, path) -> None:
    df.to_csv(path, index=False, quoting=csv.QUOTE_MINIMAL)     # "1,698" is quoted, as a spreadsheet writes it


def _grouped(v: str) -> str:
    whole, _, frac = v.partition(".")
    return f"{int(whole):,}" + (f".{frac}" if frac else "")


@FIXTURE
@given(data=st.data())
def test_thousands_separators_are_read_as_numbers_and_noted(aapl, tmp_path_factory, data):
    big = aapl.index[aapl["value"].astype(float) >= 1000].tolist()
    rows = sorted(data.draw(st.sets(st.sampled_from(big), min_size=1, max_size=len(big))))
    df = aapl.copy()
    df.loc[rows, "value"] = df.loc[rows, "value"].map(_grouped)
    src = tmp_path_factory.mktemp("k") / "s.csv"
    _write(df, src)
    assert f'"{df.loc[rows[0], "value"]}"' in src.read_text()
    notes: list[str] = []
    _raw, _ts, values, odd = read_timestamp_value(src, notes)
    assert odd == 0 and np.array_equal(values, aapl["value"].astype(float).to_numpy()), notes
    [note] = [n for n in notes if "thousands separators" in n]
    assert f"{len(rows)} value{'s are' if len(rows) > 1 else ' is'} written with thousands separators" in note
    assert f"on line {rows[0] + 2}); read as numbers ({aapl.loc[rows[0], 'value']})" in note, note


@FIXTURE
@given(row=st.integers(0, 15000), decimal=st.sampled_from(["1,5", "0,25", "12,3"]))
def test_a_decimal_comma_elsewhere_leaves_them_unread_and_says_why(aapl, tmp_path_factory, row, decimal):
    df = aapl.copy()
    big = aapl.index[aapl["value"].astype(float) >= 1000]
    df.loc[big, "value"] = df.loc[big, "value"].map(_grouped)
    df.loc[row, "value"] = decimal
    src = tmp_path_factory.mktemp("d") / "s.csv"
    _write(df, src)
    notes: list[str] = []
    _raw, _ts, values, odd = read_timestamp_value(src, notes)
    assert odd == len(big.union([row])) and np.isnan(values).sum() == odd
    assert any(f"{decimal!r} on line {row + 2} uses a comma otherwise" in n for n in notes), notes


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(repeats=st.sets(st.integers(0, 4000), min_size=1, max_size=40), times=st.integers(1, 3))
def test_the_backtest_says_repeated_rows_are_summed_into_their_hour(goog, tmp_path_factory, repeats, times):
    from wasmops.cli._backtest_input import hourly_series

    base = goog.head(4000 + 1)
    df = pd.concat([base] + [base.loc[sorted(repeats)]] * times).sort_values("timestamp", kind="stable")
    src = tmp_path_factory.mktemp("r") / "s.csv"
    df.to_csv(src, index=False)
    notes: list[str] = []
    y, _observed = hourly_series(src, notes)
    [note] = [n for n in notes if "timestamps repeat" in n]
    assert f"{len(repeats)} timestamps repeat, {len(repeats) * (times + 1)} rows sharing a timestamp" in note, note
    assert "summed into its hour" in note and "every row is scored" not in note, note
    clean_notes: list[str] = []
    y0, _ = hourly_series(_csv(base, tmp_path_factory), clean_notes)
    extra = pd.Series(base.loc[sorted(repeats), "value"].astype(float).to_numpy() * times,
                      index=pd.to_datetime(base.loc[sorted(repeats), "timestamp"]).dt.floor("h")).groupby(level=0).sum()
    both = y.index.intersection(y0.index)
    assert np.allclose(y[both], y0[both].add(extra, fill_value=0)[both])    # what the note says is what happens


def _csv(df: pd.DataFrame, tmp_path_factory):
    p = tmp_path_factory.mktemp("c") / "s.csv"
    df.to_csv(p, index=False)
    return p


def test_nab_flatline_gets_a_caveat(tmp_path):
    if not FLAT.exists():
        pytest.skip("NAB data not available")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "flat.csv").write_bytes(FLAT.read_bytes())
    (tmp_path / "labels.json").write_text('{"a/flat.csv": []}')
    corpus = load_corpus(tmp_path, tmp_path / "labels.json")
    [note] = caveats(corpus, DetectorConfig().min_history)
    assert note.startswith("a/flat.csv: every value is 45 (constant): no detector can alarm on it"), note


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.sampled_from(["0", "7", "-3.5", "1e6", "45.0"]), gaps=st.sets(st.integers(0, 1999), max_size=20))
def test_a_constant_series_gets_a_caveat_and_a_varying_one_does_not(goog, tmp_path_factory, value, gaps):
    d = tmp_path_factory.mktemp("c")
    df = goog.head(2000).assign(value=value)
    df.loc[sorted(gaps), "value"] = ""                      # missing values aside, still constant
    df.to_csv(d / "const.csv", index=False)
    goog.head(2000).to_csv(d / "real.csv", index=False)
    notes = caveats(load_corpus(d, None), DetectorConfig().min_history)
    assert [n.split(":")[0] for n in notes if "constant" in n] == ["const.csv"], notes
    assert f"every value is {float(value):g} (constant)" in notes[0]
