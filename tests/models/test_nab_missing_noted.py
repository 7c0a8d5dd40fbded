"""Missing values (empty, NaN, null, NA) are noted with a count and the first line, like values that
are not numbers; series derived from the real NAB GOOG file with hypothesis-chosen rows emptied.

Found from outside: `wasmops models benchmark` on a NAB series with one value written `NaN` (or left
empty) said nothing, while `inf` on the same line was noted; the figures moved (windowed_gaussian
88.9 → 88.7) and --out showed `nan` with score 0 for that row."""

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.nab_io import read_timestamp_value


@pytest.fixture(scope="module")
def goog(goog) -> pd.DataFrame:
    return goog.head(1500)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gone=st.sets(st.integers(0, 1499), min_size=1, max_size=30),
       marker=st.sampled_from(["", "NaN", "nan", "null", "NA", "None", " "]))
def test_missing_values_are_noted_with_count_and_first_line(goog, tmp_path_factory, gone, marker):
    df = goog.copy()
    df.loc[sorted(gone), "value"] = marker
    src = tmp_path_factory.mktemp("m") / "s.csv"
    df.to_csv(src, index=False)
    notes: list[str] = []
    _raw, _ts, values, non_numeric = read_timestamp_value(src, notes)
    assert non_numeric == 0 and int(pd.isna(values).sum()) == len(gone)
    what = "1 value is missing" if len(gone) == 1 else f"{len(gone)} values are missing"
    [note] = [n for n in notes if "missing" in n]
    assert f"{what} (the first, {marker.strip()!r}, on line {min(gone) + 2})" in note, notes
