"""`score`'s monitor step (tasks.telemetry.monitor_and_record) fits only on history GX passed.

Before: the scoring window passed GX, so the monitor read 30 days from the store and fitted on them
all, bad rows included, and its verdict and decision record said nothing. Now a module with rows
in its history that fail GX is judged without them and its verdict and record say how many, which
checks and which rows; a module whose history is clean reads as before. A module whose telemetry
stopped hours ago (none in the scoring window) is held naming its last row, not called ``ok``. Real operations data: NAB
realAWSCloudwatch series as modules' p95 latency, ending at the wall clock (the task reads it)."""

from __future__ import annotations

import pandas as pd
from prefect import flow

from support.nab_telemetry import SERIES, corrupt, nab_modules
from wasmops.telemetry import Store
from wasmops.telemetry.validate import validate


def test_history_rows_that_fail_gx_are_left_out_and_named_in_the_record(prefect_api, tmp_path, monkeypatch):
    from tasks.telemetry import monitor_and_record
    from wasmops.config import Settings
    from wasmops.gitops.decisions import list_decisions
    from wasmops.workspace import init_workspace

    s = Settings(home=tmp_path / "ws")
    init_workspace(s)
    monkeypatch.setenv("WASMOPS_HOME", str(s.home))
    now = pd.Timestamp.now(tz="UTC")
    df = nab_modules(now)
    b = df.index[df["module"] == "cpu-b"]
    bad = [b[500], b[2000], b[2001]]                            # 12 and 7 days ago: never in the window
    for i, kind in zip(bad, ("negative_fuel", "errors_over_calls", "negative_latency")):
        df.loc[i] = corrupt(df.loc[i], kind)
    broken = df[df["module"] == "cpu-c"].iloc[:100].assign(module="broken", fuel=-5)   # 14 days ago, all bad
    a = df[df["module"] == "cpu-a"]
    stopped = a[a["ts"] <= now - pd.Timedelta(hours=3)].assign(module="stopped", digest="sha256:" + "e" * 64)
    retired = stopped.assign(module="retired")          # the same, but no longer in Git: history, not a stopped module
    for name in ("stopped", "broken"):                  # still deployed by Git
        _manifest(s.gitops_dir, "prod", name)
    store = Store.open(s)
    store.append(pd.concat([df, broken, stopped, retired]))
    window = store.window(60)
    outcome = validate(window, freshness_minutes=30)
    assert outcome.success                                       # the window is clean: before, that was all

    @flow
    def run():
        return monitor_and_record(outcome, 60)

    verdicts = {v["subject"]: v for v in run()}
    assert set(verdicts) == {f"prod/{m}" for m in SERIES} | {"prod/broken", "prod/stopped"}   # not prod/retired
    assert verdicts["prod/stopped"]["verdict"] == "hold"                       # before: "ok" on 3-hour-old data
    assert verdicts["prod/stopped"]["explanation"].startswith("its telemetry stopped: prod/stopped: its newest row is "
                                                              + stopped["ts"].max().strftime("%Y-%m-%d %H:%M:%S"))
    assert verdicts["prod/broken"]["verdict"] == "hold"
    expl = verdicts["prod/broken"]["explanation"]        # stopped 14 days ago, and every row of it bad
    assert expl.startswith("its telemetry stopped: prod/broken: its newest row is ") and \
        "(its history also failed: column_values_to_be_between(fuel) in prod/broken 20" in expl, expl
    expl = verdicts["prod/cpu-b"]["explanation"]
    assert verdicts["prod/cpu-b"]["verdict"] != "hold", expl
    assert "; 3 of its 4032 history rows left out of the detector (failed validation: " in expl
    for check in ("column_values_to_be_between(fuel)", "column_pair_values_a_to_be_greater_than_b(invocations, errors)",
                  "column_values_to_be_between(latency_p95_ms)"):
        assert check in expl, expl
    assert df.loc[bad[0], "ts"].strftime("%Y-%m-%d %H:%M:%S") in expl
    assert not any("left out" in verdicts[k]["explanation"] for k in ("prod/cpu-a", "prod/cpu-c"))
    assert verdicts["prod/cpu-a"]["explanation"] == "every metric within its calibrated range"
    records = {d.subject: d for d in list_decisions(s.gitops_dir, kind="monitor")}
    assert records["prod/cpu-b"].data["gx_history_left_out"].startswith("3 of its 4032 history rows left out")
    assert records["prod/cpu-b"].data["gx_history_rows"] == len(df) + len(broken) + len(stopped)
    assert "prod/retired" not in records
    assert records["prod/cpu-a"].data["gx_history_result"].startswith("sha256:")
    assert "gx_history_left_out" not in records["prod/cpu-a"].data


def _manifest(gitops_dir, namespace: str, name: str) -> None:
    """A WasmModuleDeployment for ``namespace/name`` in the checkout: a shipped example, renamed."""
    import yaml

    doc = yaml.safe_load((gitops_dir / "modules/dev/sum-wat.yaml").read_text())
    doc["metadata"].update(name=name, namespace=namespace)
    (gitops_dir / "modules" / namespace).mkdir(parents=True, exist_ok=True)
    (gitops_dir / "modules" / namespace / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
