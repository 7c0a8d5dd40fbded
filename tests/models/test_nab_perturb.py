"""The reshaped NAB series (bench/ai_real.py table 1b) keep their windows where they were in time."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from models.nab_eval import Series
from models.nab_perturb import KINDS, perturb


@st.composite
def series(draw):
    n = draw(st.integers(200, 4000))
    step = draw(st.sampled_from(["1min", "5min", "10min", "1h"]))
    ts = pd.date_range("2025-06-01", periods=n, freq=step)
    wins, lo = [], int(0.15 * n)
    while len(wins) < draw(st.integers(0, 3)) and lo < n - 10:
        a = draw(st.integers(lo, n - 10))
        b = draw(st.integers(a, min(n - 1, a + n // 10)))
        wins.append((a, b))
        lo = b + 1
    values = np.random.default_rng(draw(st.integers(0, 2**31))).gamma(2.0, 3.0, n)
    return Series("cat/s.csv", ts, ts.astype(str).to_numpy(), values, wins)


@settings(max_examples=30, deadline=None)
@given(series(), st.sampled_from(KINDS), st.integers(0, 2**31))
def test_windows_stay_in_their_time_ranges(ser, kind, seed):
    out = perturb(ser, kind, np.random.default_rng(seed))
    assert out.ts.is_monotonic_increasing and len(out.ts) == len(out.values) > 0
    spans = [(ser.ts[a], ser.ts[b]) for a, b in ser.windows]
    extent = pd.Timedelta("30min") if kind == "mean30min" and ser.ts[1] - ser.ts[0] < pd.Timedelta("30min") else pd.Timedelta(0)
    for lo, hi in out.windows:
        assert hi >= out.n_train
        # every row of a window lies in (or, for a 30-minute bin, overlaps) one original window
        assert any(out.ts[lo] + extent > a and out.ts[hi] <= b for a, b in spans) or \
            any(out.ts[lo] >= a and out.ts[hi] <= b for a, b in spans)

def test_means_of_bins_and_unknown_kind():
    ts = pd.date_range("2025-01-01", periods=12, freq="5min")
    s = Series("c/x.csv", ts, ts.astype(str).to_numpy(), np.arange(12.0), [])
    m = perturb(s, "mean30min", np.random.default_rng(0))
    assert list(m.values) == [2.5, 8.5]
    with pytest.raises(ValueError, match="unknown perturbation 'nope'"):
        perturb(s, "nope", np.random.default_rng(0))
