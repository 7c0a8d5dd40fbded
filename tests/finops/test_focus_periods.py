"""A FOCUS export of a release's telemetry (collects 0.08–0.7 s apart) had 54 of 159 rows with
ChargePeriodStart == ChargePeriodEnd while carrying cost, and 9 rows repeating one (ResourceId,
ChargePeriodStart, ChargePeriodEnd, x_ChargeType). FOCUS writes whole seconds and a charge period is
[start, end): sub-second windows are merged into a neighbour, and no money moves."""

from __future__ import annotations

import pandas as pd
from finops_helpers import price_sheet_yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmops.finops import attribute, load_prices, read_focus, to_focus, write_focus

KEY = ["ResourceId", "ChargePeriodStart", "ChargePeriodEnd", "x_ChargeType"]


def _series(module: str, t0: pd.Timestamp, gaps_ms: list[int]) -> list[dict]:
    rows, t = [], t0
    for g in gaps_ms:
        t = t + pd.Timedelta(milliseconds=g)
        rows.append({"ts": t, "window_s": g / 1000, "namespace": "dev", "module": module, "team": "ops",
                     "digest": "sha256:" + module[0] * 64, "project": "p", "cost_center": "", "replicas": 2,
                     "invocations": 3, "fuel": 10**6, "memory_limit": 16 << 20, "peak_memory": 0})
    return rows


@settings(max_examples=40, deadline=None)
@given(a=st.lists(st.integers(80, 2500), min_size=1, max_size=25),
       b=st.lists(st.integers(80, 700), min_size=1, max_size=10),
       offset_ms=st.integers(0, 999))
def test_no_empty_charge_period_and_no_indistinguishable_rows(tmp_path_factory, a, b, offset_ms):
    tmp = tmp_path_factory.mktemp("f")
    (tmp / "pricing.yaml").write_text(price_sheet_yaml("USD"))
    book = load_prices(tmp / "pricing.yaml")
    t0 = pd.Timestamp("2026-12-06T21:59:58Z") + pd.Timedelta(milliseconds=offset_ms)
    samples = pd.DataFrame(_series("api", t0, a) + _series("batch", t0, b))
    costs = attribute(samples, book)
    focus = read_focus(write_focus(to_focus(costs, book), tmp / "f.csv"))
    empty = focus[focus["ChargePeriodStart"] >= focus["ChargePeriodEnd"]]
    assert empty.empty, empty[KEY + ["BilledCost"]].to_string()
    assert not focus.duplicated(KEY).any(), focus[focus.duplicated(KEY, keep=False)][KEY].to_string()
    for charge, col in (("fuel", "fuel_cost"), ("memory", "memory_cost"), ("invocations", "invocation_cost")):
        assert sum(focus.loc[focus["x_ChargeType"] == charge, "BilledCost"]) == sum(costs[col]), charge
    assert sum(focus.loc[focus["x_ChargeType"] == "fuel", "ConsumedQuantity"]) == 10**6 * (len(a) + len(b))
