"""`wasmops models benchmark` and `wasmops models backtest-forecast`: check the models on anyone's
labelled history (NAB format). Heavy imports live inside the commands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from ..errors import SpecError, UserError
from ._ui import console, err_console, table
from .ops import models_app

MIN_WEEKS = 3              # models.forecast_select.backtest: the first origin has 3 weeks behind it
MAX_HORIZON = 24 * 28


@models_app.command("benchmark")
def models_benchmark(data_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="NAB-format data: *.csv of timestamp,value"),
                     labels: Path = typer.Option(..., "--labels", exists=True, dir_okay=False, help="combined_windows.json"),
                     out: Path | None = typer.Option(None, "--out", help="write file,timestamp,value,score,alarm per row")) -> None:
    """Run the production detector (train on each series' first 15 %, then stream) and print the
    NAB standard score, pooled PR-AUC and windows caught at 2 % false alarms beside two baselines.
    Times: ISO 8601 (zones allowed, compared in UTC), other common layouts (one per file; an
    ambiguous day/month order is noted) or epoch seconds. `alarm` is 0 in each series' training part."""
    import csv

    from models.nab_eval import evaluate, load_corpus, run_corpus

    notes: list[str] = []
    corpus = load_corpus(data_dir, labels, notes)
    for n in notes:
        err_console().print(f"[yellow]note:[/] {n}", soft_wrap=True, highlight=False)
    if not corpus:
        raise UserError(f"no *.csv under {data_dir}", where=str(data_dir))
    for ser in corpus:
        if ser.non_numeric:
            console().print(f"[yellow]{ser.name}: {ser.non_numeric} values are not numbers; scored as missing[/]")
    runs = run_corpus(corpus)
    if out is not None:
        with open(out, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["file", "timestamp", "value", "score", "alarm"])
            for ser in corpus:
                sc, al = runs["project"]["scores"][ser.name], runs["project"]["alarms"][ser.name]
                for i in range(len(ser.values)):
                    w.writerow([ser.name, ser.raw_ts[i], f"{ser.values[i]:.12g}", f"{sc[i]:.6g}",
                                int(al[i]) if i >= ser.n_train else 0])
    rows = []
    for name, r in runs.items():
        m = evaluate(corpus, r["scores"], r["alarms"])
        rows.append({"detector": name, "nab_standard": round(m["nab"], 1), "tp": m["tp"], "fn": m["fn"],
                     "fp": m["fp"], "pooled_pr_auc": round(m["pr_auc"], 3),
                     "windows_caught_at_2pct_far": f"{m['caught']}/{m['caught_of']}"})
    console().print(table(f"{len(corpus)} series, {sum(len(s.windows) for s in corpus)} labelled windows", rows))
    if out is not None:
        console().print(f"scores: {out}")


@models_app.command("backtest-forecast")
def models_backtest_forecast(csv_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="timestamp,value CSV"),
                             horizon: int = typer.Option(168, min=1, max=MAX_HORIZON,
                                                         help="hours ahead (origins every `horizon` hours)"),
                             out: Path | None = typer.Option(None, "--out", help="write timestamp,actual,forecast,naive168,naive24")) -> None:
    """Rolling-origin backtest over the last 30 %: champion forecast vs the naive ones, MAE ratios.
    Values are summed per hour; an hour with no rows counts as 0 (noted)."""
    from models.forecast_select import backtest, hourly, mae_ratios
    from models.nab_eval import read_timestamp_value

    notes: list[str] = []
    _raw, ts, values, _ = read_timestamp_value(csv_path, notes)
    if not np.isfinite(values).any():
        raise SpecError("value: no number in the file", where=str(csv_path))
    y = hourly(ts, values)
    empty = int(y.attrs.get("empty_hours", 0))
    if empty:
        notes.append(f"{csv_path}: {empty} of {len(y)} hours have no rows and count as 0")
    for n in notes:
        err_console().print(f"[yellow]note:[/] {n}", soft_wrap=True, highlight=False)
    need = MIN_WEEKS * 168 + horizon
    if len(y) < need:
        raise SpecError(f"{len(y)} hours is too short for a {horizon} h backtest: it needs {MIN_WEEKS} weeks before "
                        f"the first origin and {horizon} h after it ({need} h)", where=str(csv_path))
    bt = backtest(y, horizon=horizon, progress=_progress(len(y), horizon))
    if bt.empty:
        raise SpecError(f"{len(y)} hours leave no hour to evaluate at {horizon} h ahead", where=str(csv_path))
    if out is not None:
        bt.rename(columns={"champion": "forecast"})[["timestamp", "actual", "forecast", "naive168", "naive24"]].to_csv(
            out, index=False, float_format="%.12g")
    if len(bt) < 0.3 * len(y) - horizon:
        err_console().print(f"[yellow]note:[/] {len(bt)} of {len(y)} hours evaluated, not the last 30 %: the first "
                            f"origin needs {MIN_WEEKS} weeks of hours behind it", highlight=False)
    r = mae_ratios(bt)
    console().print(table(f"MAE / MAE(seasonal-naive-168 h), {len(bt)} hours, {horizon} h ahead",
                          [{"forecast": k, "mae_ratio": round(v, 3)} for k, v in r.items()]))
    console().print("champions used: " + ", ".join(f"{k} {v} h" for k, v in bt["champion_name"].value_counts().items()))


def _progress(hours: int, horizon: int):
    """One line on stderr every ~10 % of the origins when there are many (``--horizon 1`` fits one model an hour)."""
    total = max(1, (hours - MIN_WEEKS * 168) // horizon)
    if total < 50:
        return None
    step = max(1, total // 10)

    def tick(done: int) -> None:
        if done % step == 0:
            err_console().print(f"backtest: {done} of ~{total} origins", highlight=False)
    return tick


@models_app.command("compare")
def models_compare(json_out: bool = typer.Option(False, "--json")) -> None:
    """Champion vs challenger (shadow) on the verdicts operators labelled (`wasmops decisions label`):
    per model version, labelled verdicts that agree, disagree or held."""
    import json

    from models.governance import compare

    from wasmops.gitops.decisions import list_decisions
    from ._ui import workspace

    rows = compare(list_decisions(workspace().gitops_dir, shadow=None))
    if json_out:
        print(json.dumps(rows, indent=1))
        return
    if not rows:
        console().print("no labelled AI verdicts yet: label one with `wasmops decisions label ID --correct|--wrong`")
        return
    console().print(table("champion vs challenger on labelled verdicts", rows))


@models_app.command("history")
def models_history(at: str | None = typer.Option(None, "--at", help="ISO time (UTC if no zone): who was champion then?"),
                   kind: str | None = typer.Option(None, help="anomaly | cost (default both)"),
                   json_out: bool = typer.Option(False, "--json")) -> None:
    """Every promotion and demotion of @champion (decision records in Git); with --at, the champion
    of each model at that time."""
    import json

    from models.governance import alias_events, champion_at

    from wasmops.gitops.decisions import list_decisions
    from ..errors import UserError
    from ._ui import workspace

    if kind is not None and kind not in MODEL_KINDS:
        raise UserError(f"--kind {kind!r}: not a model kind; the kinds are {' and '.join(MODEL_KINDS)}", where="--kind")
    names = [f"wasmops-{k}" for k in ([kind] if kind else MODEL_KINDS)]
    ds = list_decisions(workspace().gitops_dir, kind="promotion")
    if at is None:
        events = [e for e in alias_events(ds) if e["model"] in names]
        if json_out:
            print(json.dumps(events, indent=1))
        else:
            console().print(table("@champion history", events) if events else "no promotions recorded")
        return
    try:
        rows = [{"model": n, "at": at, **(champion_at(ds, n, at) or {"version": None, "since": None, "reason": "no champion"})}
                for n in names]
    except ValueError as exc:
        raise UserError(f"not a time: {at!r} ({exc})", hint="use ISO 8601, e.g. 2025-06-01T12:00:00Z") from exc
    if json_out:
        print(json.dumps(rows, indent=1))
        return
    console().print(table(f"@champion at {at}", [_champion_row(r) for r in rows]))


MODEL_KINDS = ("anomaly", "cost")


def _champion_row(r: dict) -> dict:
    """``reason`` is why that version was promoted (``there was no champion before``), not a state."""
    if r["version"] is None:
        return {"model": r["model"], "at": r["at"], "champion": "none", "since": "-",
                "why it was promoted": "no promotion recorded before then"}
    why = {"no champion yet": "there was no champion before"}.get(r["reason"], r["reason"])   # records before 2026-12
    return {"model": r["model"], "at": r["at"], "champion": f"v{r['version']}", "since": r["since"],
            "why it was promoted": why}
