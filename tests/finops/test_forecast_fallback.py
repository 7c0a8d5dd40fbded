"""Without a trained cost model the budget gate counted 0 for the rest of the month (every new team for
its first 14 days): a team reserving 2×16Mi + 8Mi against a 0.01 USD strict budget was let through
at 1.3%. The forecast falls back to the current reservations × hours left, and the message says so."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pandas as pd
import pytest
import yaml
from finops_helpers import MIB, budget, deployment, desired, frame, price_sheet, sample
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmops.finops.attribution import attribute
from wasmops.finops.budgets import BudgetGate, budget_alerts
from wasmops.finops.prices import PriceBook
from wasmops.finops.reservations import forecast_with_fallback, hours_left
from support.run_log import RecordingLog

NOW = datetime(2026, 12, 6, 22, tzinfo=timezone.utc)      # 602 h left in December
PRICE = Decimal("0.0050")                                 # memory-gib-hour of finops_helpers.price_sheet


def _ops(book):
    mods = [deployment("a", team="ops", project="p1", replicas=2, memory="16Mi"),
            deployment("b", team="ops", project="p2", memory="8Mi")]
    costs = attribute(frame([sample("2026-12-06T21:00:00Z", team="ops", module="a", fuel=325_000,
                                    memory_limit=0)]), book)                # 0.00013 USD spent
    return mods, costs


def test_without_a_model_the_gate_counts_the_rest_of_the_months_reservations(book):
    mods, costs = _ops(book)
    ds = desired([budget("team", "ops", "0.01", "strict")], mods)
    fc = forecast_with_fallback({}, ds, NOW, book)
    v = BudgetGate(book).check(mods[0], ds, costs, fc.team, NOW, forecast_by_project=fc.project,
                               forecast_basis=fc.basis)
    (p,) = v.figures
    assert p.forecast == Decimal(40) / 1024 * 602 * PRICE == Decimal("0.1175781250")
    assert p.spend_to_date == Decimal("0.00013") and v.outcome == "blocked", v.message
    assert "forecast 0.117578 (no forecast model: reservations × 602 h left)" in v.message, v.message


def test_a_model_forecast_is_kept_and_named_and_teams_it_lacks_fall_back(book):
    mods, _ = _ops(book)
    mods.append(deployment("c", team="new", memory="1Gi"))
    fc = forecast_with_fallback({"ops": Decimal("3.5")}, desired((), mods), NOW, book, model="wasmops-cost v2")
    assert fc.of("team", "ops") == (Decimal("3.5"), "cost model wasmops-cost v2")
    assert fc.of("team", "new") == (602 * PRICE, "not in the cost model's forecast: reservations × 602 h left")
    assert fc.of("project", "p2")[0] == Decimal(8) / 1024 * 602 * PRICE        # the model forecasts teams only


def test_the_daily_budget_check_uses_the_fallback_too(book):
    mods, costs = _ops(book)
    ds = desired([budget("team", "ops", "0.1", "advisory")], mods)
    fc = forecast_with_fallback({}, ds, NOW, book)
    (a,) = budget_alerts(ds, costs, fc.team, NOW, forecast_by_project=fc.project, forecast_basis=fc.basis)
    assert a.threshold_crossed == 100 and "no forecast model: reservations × 602 h left" in a.message


@settings(max_examples=60, deadline=None)
@given(mods=st.lists(st.tuples(st.integers(1, 12), st.integers(1, 4096), st.sampled_from(["x", "y"])),
                     min_size=1, max_size=6),
       offset=st.integers(0, 30 * 86400 - 1))
def test_the_fallback_is_replicas_times_memory_times_hours_left_times_price(mods, offset):
    book = PriceBook.from_sheet(price_sheet())
    now = datetime(2026, 11, 1, tzinfo=timezone.utc) + timedelta(seconds=offset)
    ds = desired((), [deployment(f"m{i}", team=t, replicas=r, memory=f"{m}Mi") for i, (r, m, t) in enumerate(mods)])
    fc = forecast_with_fallback(None, ds, now, book)
    for team in {t for *_, t in mods}:
        mib = sum(r * m for r, m, t in mods if t == team)
        exact = Decimal(mib) / 1024 * hours_left(now) * PRICE
        assert abs(fc.team[team] - exact) <= Decimal("0.5e-12"), (team, fc.team[team], exact)


# -- the release flow's budget-gate task, in a workspace without any trained model -----------------

def _manifest(name: str, replicas: int, memory: str) -> str:
    return yaml.safe_dump({
        "apiVersion": "wasmops.dev/v1alpha1", "kind": "WasmModuleDeployment",
        "metadata": {"name": name, "namespace": "dev", "labels": {"team": "ops", "project": "p"}},
        "spec": {"replicas": replicas, "moduleRef": {"repository": f"wasmops/{name}", "tag": "v1",
                                                     "digest": "sha256:" + "d" * 64},
                 "runtimeConfig": {"resources": {"cpu": "50m", "memory": memory}}}})


@pytest.fixture
def ops_ws(tmp_path, monkeypatch):
    from wasmops.config import Settings
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.telemetry import Store
    from wasmops.workspace import init_workspace

    monkeypatch.setenv("WASMOPS_HOME", str(tmp_path / "ws"))
    s = Settings()
    init_workspace(s)
    repo = GitOpsRepo.from_settings(s)
    repo.write_files({"budgets/team-ops.yaml": yaml.safe_dump({
        "apiVersion": "wasmops.dev/v1alpha1", "kind": "Budget", "metadata": {"name": "team-ops"},
        "spec": {"scope": "team", "name": "ops", "monthlyAmount": "0.001", "enforcementLevel": "strict"}}),
        "modules/dev/a.yaml": _manifest("a", 2, "16Mi"), "modules/dev/b.yaml": _manifest("b", 1, "8Mi")},
        "team ops: 2×16Mi + 8Mi, 0.001 USD strict")
    now = pd.Timestamp(_gate_now()).floor("min")
    Store.open(s).append(pd.DataFrame([{"ts": now, "window_s": 60, "namespace": "dev", "module": "a",
                                        "digest": "sha256:" + "d" * 64, "team": "ops", "project": "p",
                                        "memory_limit": 16 * MIB, "replicas": 2}]))
    return s


def _gate_now() -> datetime:
    """Now, or 12 h earlier in the month's last 6 hours (40 MiB reserved until the end of the month
    must cost more than the 0.001 USD budget): the gate's clock and the telemetry row use it."""
    now = datetime.now(timezone.utc)
    return now if hours_left(now) >= 6 else now - timedelta(hours=12)


def test_the_budget_gate_task_without_a_model_blocks_on_the_reservations(ops_ws, monkeypatch):
    import tasks.finops as tf

    at = _gate_now()

    class _Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return at.astimezone(tz) if tz else at.replace(tzinfo=None)

    monkeypatch.setattr(tf, "get_run_logger", RecordingLog)
    monkeypatch.setattr(tf, "create_markdown_artifact", lambda **_k: None)
    monkeypatch.setattr(tf, "datetime", _Clock)
    gate = tf.budget_gate.fn("dev/a", "sha256:" + "e" * 64)
    assert gate["outcome"] == "blocked", gate["message"]
    assert "(no forecast model: reservations × " in gate["message"], gate["message"]
