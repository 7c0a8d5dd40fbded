from decimal import Decimal

import pandas as pd
import pytest
from finops_helpers import MIB, frame, price_sheet, sample

from wasmops.finops.attribution import attribute, chart_png, cost_over_time, report, storage_costs, totals
from wasmops.finops.prices import PriceBook

D = Decimal


def q(d: Decimal) -> Decimal:
    """Exact value rounded once to 12 places (half up), as wasmops reports it."""
    from decimal import ROUND_HALF_UP

    return d.quantize(D("1e-12"), rounding=ROUND_HALF_UP)


def test_known_usage_gives_known_costs_exactly(book):
    costs = attribute(
        frame(
            [
                sample(
                    "2026-03-01T01:00:00Z",
                    fuel=3_000_000,
                    invocations=250_000,
                    memory_limit=16 * MIB,
                    replicas=2,
                    peak_memory=16 * MIB,
                )
            ]
        ),
        book,
    )
    row = costs.iloc[0]
    assert row["fuel_cost"] == D("0.0012")  # 3e6 fuel / 1e6 × 0.0004
    assert row["invocation_cost"] == D("0.05")  # 0.25M × 0.20
    assert row["memory_cost"] == D("0.00015625")  # 32 MiB = 1/32 GiB × 1 h × 0.005
    assert row["idle_cost"] == 0  # the peak used all of it
    assert row["total_cost"] == D("0.0012") + D("0.05") + D("0.00015625")
    assert all(isinstance(row[c], Decimal) for c in ("fuel_cost", "memory_cost", "total_cost"))
    assert (row["team"], row["project"], row["cost_center"], row["module"]) == ("core", "hello", "cc-1", "greet")
    assert costs.attrs["currency"] == "USD"


def test_idle_cost_is_reserved_memory_above_the_peak(book):
    costs = attribute(
        frame([sample("2026-03-01T01:00:00Z", memory_limit=16 * MIB, replicas=2, peak_memory=4 * MIB)]), book
    )
    # 2 replicas × (16 − 4) MiB = 24 MiB for 1 h: 24/1024 × 0.005
    assert costs.iloc[0]["idle_cost"] == D("0.0001171875")
    assert costs.iloc[0]["memory_cost"] == D("0.00015625")  # idle is part of memory, not extra
    assert costs.iloc[0]["total_cost"] == D("0.00015625")
    r = report(costs, by="team")
    assert r.loc["core", "idle_cost"] == D("0.0001171875") and r.loc["core", "idle_share"] == D("0.75")


def test_totals_are_exact_where_single_rows_are_not(book):
    # 60 one-minute windows of 2 MiB: each costs 1/60 of 0.000009765625 (no finite decimal),
    # the hour costs exactly 2/1024 × 0.005 = 0.000009765625.
    rows = [
        sample(f"2026-03-01T00:{m:02d}:00Z" if m < 60 else "2026-03-01T01:00:00Z", window_s=60, memory_limit=2 * MIB)
        for m in range(1, 61)
    ]
    costs = attribute(frame(rows), book)
    assert report(costs, by="team").loc["core", "memory_cost"] == D("0.000009765625")
    assert totals(costs)["total_cost"] == D("0.000009765625")
    naive = sum(costs["memory_cost"])
    assert naive != D("0.000009765625")  # summing rounded rows would drift


def test_prices_switch_on_their_effective_date():
    book = PriceBook.from_sheet(
        price_sheet([{"unit": "fuel-million", "amount": "0.0008", "effectiveDate": "2026-03-01"}])
    )
    costs = attribute(
        frame(
            [
                sample("2026-02-28T23:00:00Z", fuel=1_000_000),  # window starts Feb 28 22:00
                sample("2026-03-01T00:00:00Z", fuel=1_000_000),  # window starts Feb 28 23:00
                sample("2026-03-01T01:00:00Z", fuel=1_000_000),
            ]
        ),
        book,
    )
    assert costs["fuel_cost"].tolist() == [D("0.0004"), D("0.0004"), D("0.0008")]
    assert costs["fuel_price"].tolist() == [D("0.0004"), D("0.0004"), D("0.0008")]


def test_a_label_change_does_not_rewrite_history(book):
    costs = attribute(
        frame(
            [
                sample("2026-03-01T01:00:00Z", fuel=1_000_000, team="core", project="a"),
                sample("2026-03-01T02:00:00Z", fuel=2_000_000, team="data", project="b"),
            ]
        ),
        book,
    )
    r = report(costs, by="team")
    mem = D("0.000078125")  # 16 MiB × 1 h
    assert r.loc["core", "total_cost"] == D("0.0004") + mem
    assert r.loc["data", "total_cost"] == D("0.0008") + mem
    assert list(r.index) == ["data", "core"]  # sorted by total
    by_module = report(costs, by="module")
    assert by_module.loc[("dev", "greet"), "total_cost"] == D("0.0012") + 2 * mem
    assert report(costs, by="project").loc["b", "fuel_cost"] == D("0.0008")


def test_report_since_and_cost_over_time(book):
    rows = [sample(f"2026-03-0{d}T12:00:00Z", fuel=1_000_000, team=t) for d in (1, 2, 3) for t in ("core", "data")]
    costs = attribute(frame(rows), book)
    since = report(costs, by="team", since="2026-03-02")
    assert since.loc["core", "fuel_cost"] == D("0.0008")
    daily = cost_over_time(costs, by="team", freq="1D", column="fuel_cost")
    assert list(daily.columns) == ["core", "data"] and len(daily) == 3
    assert str(daily.index[0]) == "2026-03-01 00:00:00+00:00"
    assert daily.loc[daily.index[1], "data"] == D("0.0004")
    monthly = cost_over_time(costs, by="team", freq="MS")
    assert len(monthly) == 1 and monthly.iloc[0]["core"] == 3 * (D("0.0004") + D("0.000078125"))


def test_storage_cost_per_gb_month(book):
    art = pd.DataFrame(
        {
            "namespace": ["dev"],
            "module": ["greet"],
            "digest": ["sha256:x"],
            "team": ["core"],
            "project": ["hello"],
            "cost_center": [""],
            "size_bytes": [2_000_000_000],
        }
    )
    april = storage_costs(
        art, book, start=pd.Timestamp("2026-04-01", tz="UTC"), end=pd.Timestamp("2026-05-01", tz="UTC")
    )
    assert april["storage_cost"].tolist() == [D("0.20")]  # 2 GB × a whole month × 0.10
    half = storage_costs(
        art, book, start=pd.Timestamp("2026-04-16", tz="UTC"), end=pd.Timestamp("2026-05-16", tz="UTC")
    )
    assert totals(half)["storage_cost"] == q(D("0.1") + D("0.2") * 15 / 31)  # 15 of 30 April days + 15 of 31 May days
    # attribute() labels artifacts from the samples that used the digest
    costs = attribute(
        frame([sample("2026-04-30T01:00:00Z", digest="sha256:x", team="data")]),
        book,
        artifacts=pd.DataFrame({"digest": ["sha256:x"], "size_bytes": [2_000_000_000]}),
    )
    stored = costs[costs["storage_bytes"] > 0]
    assert stored["team"].tolist() == ["data"] and stored["storage_cost"].iloc[0] == q(D("0.20") / 720)


def test_missing_columns_are_named(book):
    with pytest.raises(ValueError, match=r"lack column\(s\) \['fuel'\]"):
        attribute(frame([sample("2026-03-01T01:00:00Z")]).drop(columns=["fuel"]), book)


def test_chart_png(book, tmp_path):
    pytest.importorskip("matplotlib")
    rows = [
        sample(f"2026-03-{d:02d}T12:00:00Z", fuel=d * 10**9, team=t) for d in range(1, 15) for t in ("core", "data")
    ]
    path = chart_png(attribute(frame(rows), book), tmp_path / "cost.png", by="team")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
