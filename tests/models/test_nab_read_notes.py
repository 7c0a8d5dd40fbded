"""Values that are not numbers, negative values and rows out of time order are noted with a count
and the first line; series derived from a real NAB file with hypothesis-chosen rows spoiled."""


import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.nab_io import read_timestamp_value

WORDS = st.sampled_from(["abc", "n/a", "1.2.3", "12 tweets", "—", "0x1G"])


@pytest.fixture(scope="module")
def goog(goog) -> pd.DataFrame:
    return goog.head(2000)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=st.sets(st.integers(0, 1999), max_size=40), neg=st.sets(st.integers(0, 1999), max_size=5),
       word=WORDS, swap=st.integers(0, 1998))
def test_counts_and_first_lines_are_noted(goog, tmp_path_factory, bad, neg, word, swap):
    df = goog.copy()
    neg = neg - bad
    df.loc[sorted(bad), "value"] = word
    df.loc[sorted(neg), "value"] = "-" + df.loc[sorted(neg), "value"].str.lstrip("-")
    df.loc[sorted(neg), "value"] = df.loc[sorted(neg), "value"].where(df.loc[sorted(neg), "value"] != "-0", "-1")
    df.iloc[[swap, swap + 1]] = df.iloc[[swap + 1, swap]].to_numpy()      # two rows out of order
    moved = {swap: swap + 1, swap + 1: swap}
    bad, neg = {moved.get(i, i) for i in bad}, {moved.get(i, i) for i in neg}
    src = tmp_path_factory.mktemp("r") / "s.csv"
    df.to_csv(src, index=False)
    notes: list[str] = []
    _raw, ts, values, non_numeric = read_timestamp_value(src, notes, note_negative=True)
    assert non_numeric == len(bad) and ts.is_monotonic_increasing
    text = " | ".join(notes)
    if bad:
        what = "value is not a number" if len(bad) == 1 else "values are not numbers"
        assert f"{len(bad)} {what} (the first, {word!r}, on line {min(bad) + 2})" in text
    if neg:
        assert f"{len(neg)} {'value is' if len(neg) == 1 else 'values are'} negative (the first, " in text and f"on line {min(neg) + 2})" in text
    assert f"rows are not in time order (1 step back in time, the first on line {swap + 3})" in text
    assert (not bad) == ("not numbers" not in text and "not a number" not in text) and (not neg) == ("negative (" not in text)
    assert np.isnan(values).sum() == len(bad)
