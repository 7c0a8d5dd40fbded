"""The cost chart's period follows the data: minutes of data are minute bars, not one 16-hour bar."""

import pandas as pd
import pytest

from wasmops.finops.attribution import chart_freq


@pytest.mark.parametrize("span,freq", [("3min", "1min"), ("2h", "1min"), ("20h", "1h"), ("10D", "1D")])
def test_period_fits_the_span(span, freq):
    start = pd.Timestamp("2026-11-27T10:00Z")
    df = pd.DataFrame({"window_start": [start, start + pd.Timedelta(span)]})
    assert chart_freq(df) == freq


def test_empty_is_daily():
    assert chart_freq(pd.DataFrame()) == "1D"
