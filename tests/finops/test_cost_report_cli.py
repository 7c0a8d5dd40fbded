"""`wasmops cost report` for a FinOps reader: the currency, small costs readable, a total row; a
broken budget file hides no team's figures (it is named, file and field, and the exit is 1) while
the release gate still fails closed; a budget that names no team in use is a warning, once."""

from __future__ import annotations

import json
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from finops_helpers import price_sheet_yaml
from wasmops.cli import app
from wasmops.finops import attribute, load_prices, report, totals
from wasmops.finops.report_table import TOTAL, report_rows

PRICES = price_sheet_yaml("CHF", name="chf")
BUDGET = """apiVersion: wasmops.dev/v1alpha1
kind: Budget
metadata: {{name: {name}}}
spec:
  scope: team
  name: {team}
  monthlyAmount: "{amount}"
  currency: CHF
"""


def _samples(end: pd.Timestamp, teams: dict[str, dict]) -> pd.DataFrame:
    rows = []
    for i, (team, use) in enumerate(sorted(teams.items())):
        rows.append({"ts": end, "window_s": 60.25, "namespace": "fin", "module": f"m{i}", "team": team,
                     "digest": "sha256:" + f"{i:x}" * 64, "project": "p", "cost_center": "", "replicas": 1,
                     "invocations": use.get("invocations", 0), "fuel": use.get("fuel", 0),
                     "memory_limit": use.get("memory_limit", 0), "peak_memory": 0})
    return pd.DataFrame(rows)


@settings(max_examples=30)
@given(teams=st.dictionaries(st.text("abcdefghij", min_size=1, max_size=6),
                             st.fixed_dictionaries({"invocations": st.integers(0, 10**7),
                                                    "fuel": st.integers(0, 10**12),
                                                    "memory_limit": st.integers(0, 2**34)}),
                             min_size=1, max_size=5))
def test_report_rows_keep_three_digits_of_small_costs_and_an_exact_total(tmp_path_factory, teams):
    path = tmp_path_factory.mktemp("p") / "pricing.yaml"
    path.write_text(PRICES)
    costs = attribute(_samples(pd.Timestamp("2026-03-02T10:00Z"), teams), load_prices(path))
    rows = report_rows(costs, by="team")
    raw = report(costs, by="team")
    assert [r["team"] for r in rows[:-1]] == list(raw.index) and rows[-1]["team"] == TOTAL
    exact = totals(costs)
    for col in ("fuel_cost", "invocation_cost", "memory_cost", "total_cost"):
        places = {-r[col].as_tuple().exponent for r in rows}
        assert len(places) == 1 and 4 <= min(places) <= 12          # one scale per column: aligned
        (p,) = places
        for r, true in zip(rows, [*raw[col], exact[col]]):
            assert abs(r[col] - true) * 2 <= Decimal(1).scaleb(-p)  # rounded, never cut
            if true:
                shown = len(str(int(abs(r[col]).scaleb(p))))        # significant digits on screen
                assert shown >= 3 or p == 12, (col, true, r[col])


@pytest.fixture
def ws(tmp_path, monkeypatch):
    monkeypatch.setenv("WASMOPS_HOME", str(tmp_path / "ws"))
    r = CliRunner().invoke(app, ["init"])
    assert r.exit_code == 0, r.output
    from wasmops.config import Settings
    from wasmops.telemetry import Store

    s = Settings()
    (s.gitops_dir / "pricing.yaml").write_text(PRICES)
    for f in (s.gitops_dir / "budgets").glob("*.yaml"):
        f.unlink()                           # the seed's USD budgets: this workspace bills in CHF
    end = pd.Timestamp.now(tz="UTC").floor("min")
    # one request is 0.0000002 CHF: the old table showed 0.0000
    teams = {"alpha": {"invocations": 1}, "beta": {"invocations": 3_000_000, "fuel": 10**9, "memory_limit": 2**30}}
    Store.open(s).append(_samples(end, teams))
    return s


def _report(*args):
    return CliRunner().invoke(app, ["cost", "report", *args], terminal_width=250)


def test_table_has_currency_small_costs_and_total_and_json_is_unchanged(ws):
    r = _report()
    assert r.exit_code == 0, r.output
    assert "CHF" in r.stdout and TOTAL in r.stdout
    assert "0.000000200" in r.stdout                       # alpha's one request, 3 significant digits
    assert "0.6000" in r.stdout or "0.600000200" in r.stdout  # beta's 3M requests + alpha's one
    rows = json.loads(_report("--json").stdout)
    assert {row["team"] for row in rows} == {"alpha", "beta"}  # no total row in the JSON
    alpha = next(row for row in rows if row["team"] == "alpha")
    assert alpha["invocation_cost"] == "0.000000200000" and alpha["total_cost"] == "0.000000200000"


def test_a_broken_budget_hides_no_team_but_still_stops_the_release_gate(ws):
    (ws.gitops_dir / "budgets" / "beta.yaml").write_text(BUDGET.format(name="beta", team="beta", amount="-3"))
    (ws.gitops_dir / "budgets" / "alpha.yaml").write_text(BUDGET.format(name="alpha", team="alpha", amount="10"))
    r = _report()
    assert r.exit_code == 1
    assert "alpha" in r.stdout and "beta" in r.stdout and TOTAL in r.stdout
    assert "budgets/beta.yaml: spec.monthlyAmount" in r.stderr and "budgets/alpha.yaml" not in r.stderr
    j = _report("--json")
    assert j.exit_code == 1 and {row["team"] for row in json.loads(j.stdout)} == {"alpha", "beta"}

    from tasks.finops import refuse_broken_money_files
    from wasmops.errors import SpecError
    from wasmops.gitops.repo import GitOpsRepo

    repo = GitOpsRepo.from_settings(ws)
    repo.repo.git.add(A=True)
    repo.repo.index.commit("budgets for alpha and beta, one broken")
    with pytest.raises(SpecError) as e:
        refuse_broken_money_files(repo.desired())
    assert e.value.where == "budgets/beta.yaml" and "spec.monthlyAmount" in str(e.value)


def test_a_broken_price_sheet_still_stops_the_report(ws):
    (ws.gitops_dir / "pricing.yaml").write_text(PRICES.replace("{unit: memory-gib-hour, ", "{"))
    r = _report()
    assert r.exit_code != 0 and "pricing.yaml" in str(r.exception or "") + r.stderr


def test_a_budget_for_no_team_in_use_is_warned_once_naming_file_and_field(ws):
    (ws.gitops_dir / "budgets" / "typo.yaml").write_text(BUDGET.format(name="typo", team="alpah", amount="5"))
    (ws.gitops_dir / "budgets" / "ok.yaml").write_text(BUDGET.format(name="ok", team="beta", amount="5"))
    r = _report("--by", "module")
    assert r.exit_code == 0, r.output
    assert r.stderr.count("budgets/typo.yaml: spec.name") == 1 and "'alpha'" in r.stderr
    assert "budgets/ok.yaml" not in r.stderr and "m0" in r.stdout and "m1" in r.stdout


@pytest.mark.parametrize("cut", [0, 30, 60, 60.25, 61, 100, 120.5, 150])   # before, inside, at the ends of 2 windows
def test_export_counts_the_windows_the_report_counts_even_with_a_broken_budget(ws, tmp_path_factory, cut):
    """Found from outside: with the same --since the export kept a window straddling it (and one ending
    exactly at it) that the report left out, and a broken budget file stopped the export."""
    from wasmops.telemetry import Store

    first = pd.Timestamp("2026-11-01T00:00:00Z")
    Store.open(ws).append(_samples(first + pd.Timedelta(seconds=60.25), {"gamma": {"invocations": 7}}))
    Store.open(ws).append(_samples(first + pd.Timedelta(seconds=120.5), {"gamma": {"invocations": 11}}))
    (ws.gitops_dir / "budgets" / "beta.yaml").write_text(BUDGET.format(name="beta", team="beta", amount="-3"))
    since = (first + pd.Timedelta(seconds=cut)).isoformat()
    rep = CliRunner().invoke(app, ["cost", "report", "--json", "--since", since])
    out = tmp_path_factory.mktemp("x") / "f.csv"
    exp = CliRunner().invoke(app, ["cost", "export", "-o", str(out), "--since", since])
    assert rep.exit_code == exp.exit_code == 1 and out.exists() and "budgets/beta.yaml" in exp.stderr
    reported = sum(Decimal(r["total_cost"]) for r in json.loads(rep.stdout))
    exported = sum(Decimal(str(v)) for v in pd.read_csv(out, dtype=str)["BilledCost"])
    assert abs(reported - exported) <= Decimal("1e-12") * (len(json.loads(rep.stdout)) + 10), (since, reported, exported)
