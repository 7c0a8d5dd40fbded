"""The release-judge bench's designs on irregularly sampled series, as real data can be (a call centre
open 07:00-22:00 on weekdays, a sensor that drops rows): every window gets a verdict, none crashes.

The before/after design failed with ``ValueError: cannot reshape array`` on a bank's 5-minute call
counts (closed at night and at weekends), where a window across closing time holds fewer rows than
one block of the window before it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings, strategies as st

from models.judge_eval import KINDS, SIZES, evaluate_before_after
from models.nab_io import Series

VERDICTS = {"pass", "fail", "marginal", "hold"}


def _office_hours(days: int, open_h: int, close_h: int, drop: float, seed: int) -> Series:
    """5-minute rows from ``open_h`` to ``close_h`` (its last row on the hour, as a bank's call log
    had) on weekdays, ``drop`` of them lost."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2026-03-02", periods=days * 288, freq="5min")
    open_ = (ts.hour >= open_h) & ((ts.hour < close_h) | ((ts.hour == close_h) & (ts.minute == 0)))
    keep = (ts.weekday < 5) & open_ & (rng.random(len(ts)) >= drop)
    ts = ts[keep]
    values = rng.poisson(50 + 30 * np.sin(np.pi * (ts.hour.to_numpy() - open_h) / (close_h - open_h)))
    return Series(name="realKnownCause/office.csv", ts=ts, raw_ts=ts.astype(str).to_numpy(),
                  values=values.astype(float))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(open_h=st.integers(5, 10), hours=st.integers(3, 15), drop=st.sampled_from([0.0, 0.1, 0.3]),
       seed=st.integers(0, 10**6))
def test_before_after_gives_every_window_a_verdict_on_office_hours_series(open_h, hours, drop, seed):
    ser = _office_hours(40, open_h, min(23, open_h + hours), drop, seed)
    res = evaluate_before_after([ser], prefixes=("realKnownCause",))
    assert res, "no window at all"
    for key in [("none"), *((k, s) for k in KINDS for s in SIZES)]:
        assert len(res[key]) == len(res["none"])
        assert {v[2] for v in res[key]} <= VERDICTS
