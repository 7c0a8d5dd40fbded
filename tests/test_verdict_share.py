"""A champion model's verdict on a version: ``anomalous`` when at least half of its windows are above the
threshold, and the explanation says how many it takes (found from outside: an "ok" beside "error_rate
0.32 vs baseline 0.0033 (z=+5.8) moved most", one window of 60, read as a contradiction)."""

from __future__ import annotations

import math

import pandas as pd
from hypothesis import given, strategies as st

from models.anomaly import Explanation, FeatureContribution
from wasmops.ai.verdicts import judge
from wasmops.telemetry.validate import ValidationOutcome

GOOD = ValidationOutcome(success=True, result_id="sha256:0", stats={}, failed=[])


class Scorer:
    """Flags the first ``flagged`` windows; the worst one has error_rate far above its baseline."""

    def __init__(self, flagged: int):
        self.flagged = flagged

    def explain(self, rows):
        out = []
        for i in range(len(rows)):
            hot = i < self.flagged
            f = FeatureContribution("error_rate", 0.32 if i == 0 else 0.004, 0.0033, 5.8 if i == 0 else 0.2, 1.0)
            out.append(Explanation("dev/m", 9.0 if i == 0 else (3.0 if hot else 0.5), 2.0, hot, "error_rate", [f]))
        return out


@given(windows=st.integers(1, 90), data=st.data())
def test_the_share_needed_is_said_and_decides(windows, data):
    flagged = data.draw(st.integers(0, windows))
    df = pd.DataFrame({"namespace": "dev", "module": "m", "digest": "sha256:" + "a" * 64,
                       "invocations": [10] * windows, "ts": pd.date_range("2026-12-01", periods=windows, freq="min")})
    (v,) = judge(df, GOOD, Scorer(flagged), {"version": "1"})
    need = math.ceil(windows / 2)
    assert v.verdict == ("anomalous" if flagged >= need else "ok")
    assert f"{flagged}/{windows} windows above threshold" in v.explanation
    assert f"anomalous from {need}:" in v.explanation
