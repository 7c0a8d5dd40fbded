"""A budget in another currency than the prices stopped every budget alert: it was found only when a
projection reached it, inside the daily check's loop, before any alert was raised (another project
at 1039 % of its strict budget went unreported), while `cost report` said nothing. It is now a broken
budget file from the moment the desired state is loaded: named (file and field) by `cost report`
(exit 1), the budget gate and, after every other budget was checked and alerted, the budget check."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from finops_helpers import price_sheet_yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmops.gitops.desired import assemble, parse_file
from support.run_log import RecordingLog

CURRENCIES = st.sampled_from(["USD", "EUR", "CHF", "JPY"])


def _budget(scope: str, name: str, amount: str, currency: str, level: str = "strict") -> str:
    return yaml.safe_dump({"apiVersion": "wasmops.dev/v1alpha1", "kind": "Budget", "metadata": {"name": name},
                           "spec": {"scope": scope, "name": name, "monthlyAmount": amount, "currency": currency,
                                    "enforcementLevel": level}})


@settings(max_examples=50, deadline=None)
@given(prices=CURRENCIES, budgets=st.lists(CURRENCIES, min_size=1, max_size=5))
def test_a_budget_in_another_currency_is_a_broken_file_naming_the_field(prices, budgets):
    files = {"pricing.yaml": price_sheet_yaml(prices)}
    files.update({f"budgets/b{i}.yaml": _budget("team", f"t{i}", "5", c) for i, c in enumerate(budgets)})
    ds = assemble({rel: parse_file(rel, text) for rel, text in files.items()}, None)
    foreign = {f"budgets/b{i}.yaml" for i, c in enumerate(budgets) if c != prices}
    assert {b.source for b in ds.budgets} == set(files) - foreign - {"pricing.yaml"}
    assert {e.file for e in ds.errors} == foreign and all(e.kind == "Budget" for e in ds.errors)
    for e in ds.errors:
        i = int(e.file[len("budgets/b"):-len(".yaml")])
        assert str(e) == (f"{e.file}: spec.currency: budget team t{i} is in {budgets[i]} but prices are in "
                          f"{prices} (pricing.yaml)")


@pytest.fixture
def ws(tmp_path, monkeypatch):
    from wasmops.config import Settings
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.telemetry import Store
    from wasmops.workspace import init_workspace

    monkeypatch.setenv("WASMOPS_HOME", str(tmp_path / "ws"))
    s = Settings()
    init_workspace(s)
    GitOpsRepo.from_settings(s).write_files({
        "budgets/a-eur.yaml": _budget("team", "ops", "10", "EUR"),
        "budgets/project-burn.yaml": _budget("project", "burn", "0.000008", "USD")}, "two budgets")
    now = pd.Timestamp.now(tz="UTC").floor("min")
    # 1 GiB for 60 s at 0.005 USD per GiB-hour: 0.0000833 USD, over 1000 % of 0.000008
    Store.open(s).append(pd.DataFrame([{"ts": now, "window_s": 60, "namespace": "dev", "module": "m",
                                        "digest": "sha256:" + "c" * 64, "team": "ops", "project": "burn",
                                        "memory_limit": 2**30, "replicas": 1}]))
    return s


def test_the_budget_check_alerts_every_other_budget_then_names_the_foreign_currency_file(ws, monkeypatch):
    import prefect.events

    import tasks.finops as tf
    from wasmops.errors import SpecError

    events = []
    monkeypatch.setattr(prefect.events, "emit_event", lambda name, **kw: events.append((name, kw["payload"])))
    monkeypatch.setattr(tf, "create_table_artifact", lambda **_k: None)
    monkeypatch.setattr(tf, "create_markdown_artifact", lambda **_k: None)
    log = RecordingLog()
    monkeypatch.setattr(tf, "get_run_logger", lambda: log)
    with pytest.raises(SpecError) as e:
        tf.budget_alerts_task.fn()
    assert e.value.where == "budgets/a-eur.yaml" and "spec.currency" in str(e.value), str(e.value)
    assert [(n, p["team"], p["threshold"]) for n, p in events] == [("wasmops.budget.exceeded", "burn", 100)]
    assert sum("budgets/a-eur.yaml: spec.currency" in x for x in log.lines) == 1, log.lines


def test_cost_report_names_the_foreign_currency_budget_and_exits_1(ws):
    from typer.testing import CliRunner

    from wasmops.cli import app

    r = CliRunner().invoke(app, ["cost", "report", "--by", "team"], terminal_width=250)
    assert r.exit_code == 1, r.output
    assert "ops" in r.stdout and "budgets/a-eur.yaml: spec.currency: budget team ops is in EUR" in r.stderr
