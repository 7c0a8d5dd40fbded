"""`wasmops models benchmark` and `wasmops models backtest-forecast`: check the models on anyone's
labelled history (NAB format). Heavy imports live inside the commands."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import SpecError, UserError
from ._models_io import check_out, print_notes, write_text
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
    from models.detector import DetectorConfig
    from models.nab_caveats import caveats
    from models.nab_eval import evaluate, load_corpus, run_corpus

    check_out(out)
    notes: list[str] = []
    corpus = load_corpus(data_dir, labels, notes, exclude=out)
    notes += caveats(corpus, DetectorConfig().min_history)
    print_notes(notes)
    if not corpus:
        raise UserError(f"no *.csv under {data_dir}", where=str(data_dir))
    if not any(s.windows for s in corpus):
        raise UserError(f"no labelled window is left to score in the {len(corpus)} series under {data_dir} "
                        + ("(see the notes above)" if notes else "(the labels give none of them a window)"),
                        where=str(labels))
    runs = run_corpus(corpus, progress=_series_progress(corpus))
    if out is not None:
        write_text(out, _scores_csv(corpus, runs["project"]))
    rows = []
    for name, r in runs.items():
        m = evaluate(corpus, r["scores"], r["alarms"])
        rows.append({"detector": name, "nab_standard": round(m["nab"], 1), "tp": m["tp"], "fn": m["fn"],
                     "fp": m["fp"], "pooled_pr_auc": round(m["pr_auc"], 3),
                     "windows_caught_at_2pct_far": f"{m['caught']}/{m['caught_of']}"})
    console().print(table(f"{len(corpus)} series, {sum(len(s.windows) for s in corpus)} labelled windows", rows))
    if out is not None:
        console().print(f"scores: {out}")


#: Rows (all series) from which the benchmark says how far it got: ~5 s a 170,000-row series here.
PROGRESS_ROWS = 100_000


def _series_progress(corpus):
    """A line on stderr after each series (at most ~10) when there are many rows to score."""
    sizes = [len(s.values) for s in corpus]
    total = sum(sizes)
    if total < PROGRESS_ROWS:
        return None
    step = max(1, len(corpus) // 10)

    def tick(done: int) -> None:
        if done % step == 0 or done == len(corpus):
            err_console().print(f"benchmark: {done} of {len(corpus)} series ({sum(sizes[:done]):,} of {total:,} rows)",
                                highlight=False)
    return tick


def _scores_csv(corpus, run: dict) -> str:
    """file,timestamp,value,score,alarm per row (LF line endings); alarm is 0 in the training part. A
    missing value (empty, NaN in the input) is not scored: its value and score are left empty."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["file", "timestamp", "value", "score", "alarm"])
    for ser in corpus:
        sc, al = run["scores"][ser.name], run["alarms"][ser.name]
        for i in range(len(ser.values)):
            if ser.values[i] != ser.values[i]:          # missing: nothing was measured, so nothing scored
                w.writerow([ser.name, ser.raw_ts[i], "", "", 0])
                continue
            w.writerow([ser.name, ser.raw_ts[i], f"{ser.values[i]:.12g}", f"{sc[i]:.6g}",
                        int(al[i]) if i >= ser.n_train else 0])
    return buf.getvalue()


@models_app.command("backtest-forecast")
def models_backtest_forecast(csv_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="timestamp,value CSV"),
                             horizon: int = typer.Option(168, min=1, max=MAX_HORIZON,
                                                         help="hours ahead (origins every `horizon` hours)"),
                             out: Path | None = typer.Option(None, "--out", help="write timestamp,actual,forecast,naive168,naive24")) -> None:
    """Rolling-origin backtest over the last 30 %: champion forecast vs the naive ones, MAE ratios.
    Values are summed per hour; an hour with no number counts as 0 in the forecasts' input and is not
    scored; a partial first or last hour is left out (both noted). `actual` is empty for unscored hours."""
    from models.forecast_select import backtest, mae_ratios

    from ._backtest_input import hourly_series, model_fallback_note, zero_baseline_note

    check_out(out)
    notes: list[str] = []
    y, observed = hourly_series(csv_path, notes)
    print_notes(notes)
    need = MIN_WEEKS * 168 + horizon
    if len(y) < need:
        raise SpecError(f"{len(y)} hours is too short for a {horizon} h backtest: it needs {MIN_WEEKS} weeks before "
                        f"the first origin and {horizon} h after it ({need} h)", where=str(csv_path))
    bt = backtest(y, horizon=horizon, progress=_progress(len(y), horizon), observed=observed)
    scored = int(bt["actual"].notna().sum())
    if not scored:
        raise SpecError(f"{len(y)} hours leave no hour with a number to evaluate at {horizon} h ahead",
                        where=str(csv_path))
    if out is not None:
        write_text(out, bt.rename(columns={"champion": "forecast"})[
            ["timestamp", "actual", "forecast", "naive168", "naive24"]].to_csv(index=False, float_format="%.12g"))
    if len(bt) < 0.3 * len(y) - horizon:
        print_notes([f"{len(bt)} of {len(y)} hours forecast, not the last 30 %: the first origin needs "
                     f"{MIN_WEEKS} weeks of hours behind it"])
    if scored < len(bt):
        print_notes([f"{len(bt) - scored} of the {len(bt)} hours forecast have no number and are not scored"])
    print_notes([n for n in (zero_baseline_note(bt), model_fallback_note(bt)) if n])
    console().print(table(f"MAE / MAE(seasonal-naive-168 h), {scored} hours, {horizon} h ahead",
                          [{"forecast": k, "mae_ratio": round(v, 3)} for k, v in mae_ratios(bt).items()]))
    console().print("champions used: " + ", ".join(f"{k} {v} h" for k, v in bt["champion_name"].value_counts().items()))


def _progress(hours: int, horizon: int):
    """One line on stderr every ~10 % of the origins when there are many (``--horizon 1`` fits one model an hour),
    out of the number :func:`models.forecast_select.backtest` makes."""
    from models.forecast_select import origin_count

    total = max(1, origin_count(hours, horizon))
    if total < 50:
        return None
    step = max(1, total // 10)

    def tick(done: int) -> None:
        if done % step == 0 or done == total:
            err_console().print(f"backtest: {done} of {total} origins", highlight=False)
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
