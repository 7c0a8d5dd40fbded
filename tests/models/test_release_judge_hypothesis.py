"""Release judge under hypothesis-generated inputs: no crash, hold on too few, identical never fails."""

import pytest

from wasmops.release_judge import JudgePolicy, judge

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=200, deadline=None)
@given(st.lists(_floats, max_size=40), st.lists(_floats, max_size=40))
def test_hypothesis_no_crash(b, c):
    v = judge({"latency_p95_ms": b, "error_rate": c}, {"latency_p95_ms": c, "error_rate": b})
    assert v.verdict in ("pass", "marginal", "fail", "hold")
    if min(len(b), len(c)) < JudgePolicy().min_samples:
        assert v.verdict == "hold"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1e6), min_size=8, max_size=40))
def test_hypothesis_identical_never_fails(x):
    assert judge({"m": x}, {"m": list(x)}).verdict != "fail"
