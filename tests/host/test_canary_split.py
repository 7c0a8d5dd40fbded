"""The canary split (wasmops/host/canary.py): exact over any 100 consecutive requests, and periodic
traffic does not alias with it (found from outside: at 50 % the old every-other-request rule sent every
request of one kind of a repeating four-body load to the canary)."""

from __future__ import annotations

from hypothesis import given, strategies as st

from wasmops.host.canary import CanarySlot


def _split(weight: int, n: int) -> list[bool]:
    slot = CanarySlot(live=None, weight=weight)
    return [slot.take() for _ in range(n)]


@given(weight=st.integers(0, 100), start=st.integers(0, 1000))
def test_any_100_consecutive_requests_give_exactly_the_weight(weight, start):
    seq = _split(weight, start + 100)
    assert sum(seq[start:start + 100]) == weight


@given(weight=st.integers(1, 99), period=st.integers(2, 12), kind=st.data())
def test_each_kind_of_a_periodic_load_gets_about_the_weight(weight, period, kind):
    k = kind.draw(st.integers(0, period - 1))
    seq = _split(weight, 100 * period)
    share = sum(seq[k::period]) / 100
    assert abs(share - weight / 100) <= 0.1, (share, weight, period, k)
