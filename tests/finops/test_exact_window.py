"""Reserved memory is billed for the exact scrape window (not whole seconds), and FOCUS charge
periods of consecutive windows meet end to start: no overlap, no gap."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from finops_helpers import price_sheet_yaml
from wasmops.finops import attribute, load_prices, read_focus, report, to_focus, write_focus
from wasmops.telemetry import Collector, Store

GIB = 2**30
PRICES = price_sheet_yaml("EUR", "%s", "odd")


def metrics(reserved: int, calls: int) -> str:
    lb = 'namespace="prod",module="m",digest="sha256:aa",team="core",project="web"'
    return (f"wasmops_invocations_total{{{lb}}} {calls}\n"
            f"wasmops_memory_reserved_bytes{{{lb}}} {reserved}\n")


@settings(max_examples=25)
@given(gaps_ns=st.lists(st.integers(min_value=1, max_value=90 * 10**9), min_size=2, max_size=8),
       reserved=st.integers(min_value=1, max_value=8 * GIB),
       price=st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("3"), places=6))
def test_scrape_windows_bill_exact_nanoseconds_and_focus_periods_meet(tmp_path_factory, gaps_ns, reserved, price):
    tmp = tmp_path_factory.mktemp("win")
    (tmp / "pricing.yaml").write_text(PRICES % price)
    col = Collector(Store(tmp / "telemetry.db"), source="h")
    t0 = pd.Timestamp("2026-03-02T10:00:00Z").value
    times = [t0]
    for g in gaps_ns:
        times.append(times[-1] + g)
    for i, t in enumerate(times):
        col.collect(metrics(reserved, 10 * i), now=pd.Timestamp(t, tz="UTC"))
    samples = col.store.read()                          # back from the real SQLite file
    assert len(samples) == len(gaps_ns)
    assert [round(w * 1e9) for w in samples["window_s"]] == gaps_ns

    book = load_prices(tmp / "pricing.yaml")
    costs = attribute(samples, book)
    span_ns = times[-1] - t0
    exact = Fraction(reserved) * span_ns / (3600 * 10**9 * GIB) * Fraction(price)
    total = report(costs, by="team")["memory_cost"]["core"]
    assert abs(Fraction(total) - exact) <= Fraction(1, 2 * 10**12)    # one rounding, at 12 places
    for w_ns, c in zip(gaps_ns, costs["memory_cost"]):
        assert abs(Fraction(c) - Fraction(reserved) * w_ns / (3600 * 10**9 * GIB) * Fraction(price)) \
            <= Fraction(1, 2 * 10**12)

    focus = to_focus(costs, book)
    mem = focus[focus["x_ChargeType"] == "memory"].sort_values("ChargePeriodEnd")
    start, end = [s.value for s in mem["ChargePeriodStart"]], [e.value for e in mem["ChargePeriodEnd"]]
    assert sum(mem["BilledCost"]) == sum(costs["memory_cost"])          # merging moves no money
    if t0 // 10**9 == times[-1] // 10**9:       # every window inside one second: that second, one row
        assert (start, end) == ([t0], [(t0 // 10**9 + 1) * 10**9])
    else:                                       # sub-second windows merged into a neighbour: still a partition
        assert start[0] == t0 and end[-1] == times[-1] and start[1:] == end[:-1] and set(start) <= set(times)
    # The CSV holds whole seconds (FOCUS's 'YYYY-MM-DDTHH:mm:ssZ'): both ends are cut alike, so they still
    # meet, and no period is empty ([X, X) while carrying cost: 54 of 159 rows of a release's export).
    path = write_focus(focus, tmp / "focus.csv")
    mem = read_focus(path)
    mem = mem[mem["x_ChargeType"] == "memory"].sort_values(["ChargePeriodEnd", "ChargePeriodStart"])
    start, end = mem["ChargePeriodStart"].tolist(), mem["ChargePeriodEnd"].tolist()
    assert all(s < e for s, e in zip(start, end)), "an empty charge period"
    assert all(e == s for e, s in zip(end[:-1], start[1:])), "charge periods overlap or leave gaps"


def test_a_twenty_second_scrape_that_ran_late_is_not_billed_a_whole_extra_second(tmp_path):
    (tmp_path / "pricing.yaml").write_text(PRICES % "0.0050")
    col = Collector(Store(tmp_path / "telemetry.db"), source="h")
    t = pd.Timestamp("2026-03-02T10:00:00Z")
    for dt in ("0s", "20.4s", "40.9s"):                   # windows of 20.4 s and 20.5 s
        col.collect(metrics(GIB, 0), now=t + pd.Timedelta(dt))
    costs = attribute(col.store.read(), load_prices(tmp_path / "pricing.yaml"))
    assert costs["window_s"].tolist() == [20.4, 20.5]
    # 1 GiB for 40.9 s at 0.005 per GiB-hour = 0.0000568055...; whole seconds (21 + 21) billed 0.0000583333
    assert report(costs, by="team")["memory_cost"]["core"] == Decimal("0.000056805556")
