"""The score flow checks freshness per module and validates the monitor's history.

Before: one module whose telemetry stopped 45 minutes ago, beside modules reporting every minute,
passed the window's freshness check (its newest row is the others'), and its old rows were scored
as current; a row of another module that failed GX days ago stayed in the monitor's history. Now
the stopped module is ``hold`` in the anomaly and the monitor verdicts, naming its last row, and
the other module's bad history row is left out and named."""

from __future__ import annotations

import pandas as pd


def test_a_stopped_module_is_held_and_a_bad_history_row_left_out(flow_env):
    from flows.score import score
    from flows.train_models import train_models
    from wasmops.gitops.decisions import list_decisions
    from wasmops.telemetry import Store, synthesize_to_now

    ws, host, mods = flow_env
    trained = train_models(synthetic=True, allow_synthetic=True, days=21, holdout_days=7, modules=3, seed=5)
    assert trained["anomaly"]["promoted"]          # a champion that knows prod/mod-000..002: it judges them
    now = pd.Timestamp.now(tz="UTC")
    df = synthesize_to_now(modules=3, days=2, anomaly_rate=0, seed=5, now=now).drop(
        columns=["is_anomaly", "anomaly_kind"])                              # real series: the monitor judges them
    stopped, other = "mod-001", "mod-002"
    last = now.floor("min") - pd.Timedelta(minutes=45)
    df = df[~((df["module"] == stopped) & (df["ts"] > last))].reset_index(drop=True)
    old = df.index[(df["module"] == other) & (df["window_s"] == 3600)][10]    # a day and more ago
    df.loc[old, "fuel"] = -1
    Store.open(ws.settings).append(df)

    verdicts = score(window_minutes=60, freshness_minutes=30, shadow=False)
    anomaly = {v["subject"]: v for v in verdicts if v.get("kind") != "monitor"}
    monitor = {v["subject"]: v for v in verdicts if v.get("kind") == "monitor"}
    named = f"prod/{stopped}: its newest row is {last.strftime('%Y-%m-%d %H:%M:%S')} UTC, 4"   # 45 or 46 min
    for v in (anomaly[f"prod/{stopped}"], monitor[f"prod/{stopped}"]):
        assert v["verdict"] == "hold" and named in v["explanation"], v["explanation"]
    for m in ("mod-000", other):                        # fresh: judged by the champion, not held for freshness
        assert anomaly[f"prod/{m}"]["verdict"] != "hold", anomaly[f"prod/{m}"]["explanation"]
        assert "freshness" not in anomaly[f"prod/{m}"]["explanation"] + monitor[f"prod/{m}"]["explanation"]
    assert ("1 of its" in monitor[f"prod/{other}"]["explanation"]
            and "column_values_to_be_between(fuel) in prod/mod-002 " in monitor[f"prod/{other}"]["explanation"])
    rec = {d.subject: d for d in list_decisions(ws.settings.gitops_dir, kind="monitor")}
    assert rec[f"prod/{other}"].data["gx_history_left_out"].startswith("1 of its")
    # the monitor step is one task run of the score run (the task decorator sat on the per-verdict action,
    # so each verdict was a task run named "monitor" and the step itself none)
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[rec[f"prod/{other}"].flow_run_id])))
    assert sum(r.name.startswith("monitor-") for r in runs) == 1, sorted(r.name for r in runs)
