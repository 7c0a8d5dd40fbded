"""The daily budget check (flow ``budget-check``) says, once per file, which budget files do nothing:
a broken one (file and field; the run then fails, after checking the others) and one whose team is
in no manifest and no telemetry. The daily cost report is not stopped by a broken budget."""

from __future__ import annotations

import pandas as pd
import pytest
from support.run_log import RecordingLog

BUDGET = """apiVersion: wasmops.dev/v1alpha1
kind: Budget
metadata: {{name: {name}}}
spec:
  scope: team
  name: {team}
  monthlyAmount: "{amount}"
"""


@pytest.fixture
def repo(tmp_path, monkeypatch):
    from wasmops.config import Settings
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.telemetry import Store
    from wasmops.workspace import init_workspace

    monkeypatch.setenv("WASMOPS_HOME", str(tmp_path / "ws"))
    s = Settings()
    init_workspace(s)
    r = GitOpsRepo.from_settings(s)
    (r.path / "budgets" / "ghost.yaml").write_text(BUDGET.format(name="ghost", team="infra-ops", amount="9"))
    (r.path / "budgets" / "bad.yaml").write_text(BUDGET.format(name="bad", team="core", amount="lots"))
    r.repo.git.add(A=True)
    r.repo.index.commit("two budgets that do nothing")
    now = pd.Timestamp.now(tz="UTC").floor("min")
    Store.open(s).append(pd.DataFrame([{"ts": now, "window_s": 60, "namespace": "dev", "module": "m",
                                        "digest": "sha256:" + "c" * 64, "team": "infra", "project": "p",
                                        "memory_limit": 2**20}]))
    return r


def test_budget_check_names_broken_and_unmatched_budget_files_once(repo, monkeypatch, prefect_api):
    import tasks.finops as tf
    from flows.finops import budget_check

    from wasmops.errors import SpecError

    log = RecordingLog()
    monkeypatch.setattr(tf, "get_run_logger", lambda: log)
    with pytest.raises(SpecError) as e:        # after every other budget was checked: bad.yaml was not
        budget_check()
    assert e.value.where == "budgets/bad.yaml" and "spec.monthlyAmount" in str(e.value)
    assert sum("budgets/bad.yaml: spec.monthlyAmount" in x for x in log.lines) == 1, log.lines
    ghost = [x for x in log.lines if x.startswith("budgets/ghost.yaml: spec.name")]
    assert len(ghost) == 1 and "'infra-ops'" in ghost[0] and "'infra'" in ghost[0]     # the closest team
    assert not any("team-core.yaml" in x or "team-data.yaml" in x for x in log.lines)   # the seed's: in use


def test_finops_report_with_a_broken_budget_has_small_costs_readable_and_a_total(repo, monkeypatch, prefect_api):
    import tasks.finops as tf
    from flows.finops import finops_report
    from wasmops.finops.report_table import TOTAL

    log = RecordingLog()
    monkeypatch.setattr(tf, "get_run_logger", lambda: log)
    rows = finops_report(by="team", days=30)
    assert sum("budgets/bad.yaml: spec.monthlyAmount" in x for x in log.lines) == 1, log.lines
    assert [r["team"] for r in rows] == ["infra", TOTAL]
    # 1 MiB for 60 s at 0.005 per GiB-hour = 0.0000000813802... USD
    assert rows[0]["memory_cost"] == rows[1]["memory_cost"] == "0.0000000814"     # 3 significant digits
