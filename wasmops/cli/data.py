"""Telemetry, load and cost commands: telemetry collect|synth|validate, load, cost report|export|recommend."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer

from . import app
from ._ui import console, table, workspace

telemetry_app = typer.Typer(help="Collect, synthesize and validate telemetry.", no_args_is_help=True)
cost_app = typer.Typer(help="Cost attribution, FOCUS export and right-sizing.", no_args_is_help=True)
app.add_typer(telemetry_app, name="telemetry")
app.add_typer(cost_app, name="cost")


@telemetry_app.command("collect")
def telemetry_collect(count: int = typer.Option(1, help="Scrapes to take."),
                      interval: float = typer.Option(15.0, help="Seconds between scrapes.")) -> None:
    """Scrape the host's /metrics into the telemetry store (the first scrape sets the baseline)."""
    import time

    from ..host.client import HostClient
    from ..telemetry import Collector, Store, scrape_host

    s = workspace()
    hc = HostClient.from_workspace(s)
    store = Store.open(s)
    col = Collector(store, source=hc.url)
    from rich.markup import escape

    from ..errors import TransientError

    for i in range(count):
        try:
            rows = scrape_host(hc, col)
        except TransientError as exc:   # a host restarting: the next scrape picks the window up again
            if count == 1:
                raise
            console().print(f"[yellow]scrape {i + 1}/{count}: {escape(str(exc))}; trying again at the next scrape[/]",
                            soft_wrap=True)
            if i + 1 < count:
                time.sleep(interval)
            continue
        console().print(f"scrape {i + 1}/{count}: {len(rows)} samples (store has {store.count()})")
        if col.note:
            console().print(f"[yellow]warning:[/] {escape(col.note)}", soft_wrap=True)
        if i + 1 < count:
            time.sleep(interval)


@telemetry_app.command("synth")
def telemetry_synth(modules: int = 20, teams: int = 4, days: int = 28, anomaly_rate: float = 0.01, seed: int = 0,
                    out: Optional[Path] = typer.Option(None, "-o", help="Write Parquet here instead of the store.")) -> None:
    """Make synthetic history with daily/weekly seasonality, per-team patterns and labelled anomalies:
    hourly windows, then the last hour or two in 1-minute windows up to now (as `telemetry collect`
    writes them), so `wasmops score` with its defaults judges it."""
    from ..telemetry import Store, synthesize_to_now

    df = synthesize_to_now(modules=modules, teams=teams, days=days, anomaly_rate=anomaly_rate, seed=seed)
    if out:
        df.to_parquet(out)
        console().print(f"wrote {len(df)} rows ({int(df['is_anomaly'].sum())} labelled anomalies) to {out}")
    else:
        n = Store.open(workspace()).append(df)
        console().print(f"stored {n} new rows of {len(df)} ({int(df['is_anomaly'].sum())} labelled anomalies)")


@telemetry_app.command("validate")
def telemetry_validate(hours: int = typer.Option(24, min=1, help="Validate the last N hours (up to now)."),
                       freshness_minutes: int = typer.Option(30, help="0 turns the freshness check off.")) -> None:
    """Run the Great Expectations suite on recent telemetry. Exit 1 if it fails."""
    from ..telemetry import Store
    from ..telemetry.validate import validate

    store = Store.open(workspace())
    df = store.window(minutes=hours * 60)   # anchored at now, not at the newest row
    out = validate(df, freshness_minutes=freshness_minutes or None)
    from rich.markdown import Markdown

    from ..ai.hold_reasons import future_rows_note

    console().print(Markdown(out.to_markdown()))
    skew = future_rows_note(store.ahead(out.now), out.now)
    if skew:   # outside the window, so not validated: said, not failed (they may be years ahead)
        console().print(f"note: {skew}", highlight=False, soft_wrap=True)
    raise typer.Exit(0 if out.success else 1)


@app.command()
def load(targets: list[str] = typer.Argument(..., help="ns/name[=BODY] (BODY defaults to {})"),
         requests: int = typer.Option(200, "-n", help="Total requests."),
         concurrency: int = typer.Option(4, "-c")) -> None:
    """Drive real traffic through the host."""
    from rich.progress import Progress

    from ..host.client import HostClient
    from ..telemetry import generate_load

    tgs = []
    for t in targets:
        key, _, body = t.partition("=")
        ns, _, name = key.partition("/")
        tgs.append((ns, name, body or "{}"))
    with Progress(transient=True) as prog:
        task = prog.add_task("requests", total=requests)
        stats = generate_load(HostClient.from_workspace(workspace()), tgs, requests, concurrency,
                              progress=lambda *a: prog.advance(task))
    lat = stats.get("latency_ms", {})
    console().print(f"{stats['requests']} requests: {stats['ok']} ok, {stats['failed']} failed; "
                    f"{stats.get('rps', 0):.0f} req/s; p50 {lat.get('p50', 0):.2f} ms, p95 {lat.get('p95', 0):.2f} ms")
    if stats["failed"]:
        from ..errors import WasmopsError

        reasons = ", ".join(f"{r} ×{n}" for r, n in sorted(stats.get("errors", {}).items(), key=lambda x: -x[1])[:3])
        statuses = ", ".join(f"{s or 'no answer'} ×{n}" for s, n in stats.get("by_status", {}).items()
                             if not 200 <= s < 300)
        raise WasmopsError(f"{stats['failed']} of {stats['requests']} requests failed ({statuses})"
                           + (f": {reasons}" if reasons else ""))


def _json_value(v):
    """Decimals as exact strings, numpy scalars as Python numbers, timestamps as ISO text."""
    if hasattr(v, "quantize"):
        return format(v, "f")          # positional, never "0E-12" or "8.68056E-7"
    if hasattr(v, "item"):
        return v.item()
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def _desired(s, *, tolerant: bool):
    """The working tree's desired state. ``tolerant``: broken budget and module files do not stop
    the caller (they are in ``.errors``); a broken price sheet still does, as nothing can be priced."""
    from wasmops.gitops.desired import load_desired_state

    desired = load_desired_state(s.gitops_dir, strict=not tolerant)
    prices = [e for e in desired.errors if e.kind == "PriceSheet"]
    if prices:
        raise prices[0].error()
    return desired


def _costs(since: Optional[str], *, tolerant: bool = False):
    import pandas as pd

    from ..finops import attribute
    from ..telemetry import Store

    from ..errors import NotFound, UserError

    s = workspace()
    try:
        start = pd.Timestamp(since, tz="UTC") if since else None
    except (ValueError, TypeError):
        raise UserError(f"{since!r} is not an ISO date or time (e.g. 2026-12-01 or 2026-12-01T08:00)",
                        where="--since") from None
    desired = _desired(s, tolerant=tolerant)
    store = Store.open(s)   # synthetic series (demo, tests) are no cost
    samples = store.without_synthetic(store.read(since=start))
    if samples.empty:
        what = f"no telemetry since {start.isoformat()}" if start is not None and not store.read().empty \
            else "no telemetry in the store"
        raise NotFound(what, where=str(s.paths.telemetry_db),
                       hint="collect some (`wasmops telemetry collect`) or synthesize it (`wasmops telemetry synth`)"
                       if what.endswith("store") else "choose an earlier --since")
    return desired, samples, attribute(samples, desired.pricing)


REPORT_BY = ("team", "project", "module", "cost_center", "namespace", "digest")


def _budget_problems(desired, samples) -> tuple[list[str], list[str]]:
    """(errors, warnings) about the Git files behind the report, one line each, naming file and field:
    broken budget and module files (errors), budgets that match no team or project (warnings)."""
    from ..finops.budget_files import labels_in_use, unmatched_budgets

    errors = [str(e) for e in desired.errors]
    return errors, unmatched_budgets(desired.budgets, labels_in_use(desired, [samples]))


def _say_problems(errors: list[str], warnings: list[str]) -> None:
    from rich.markup import escape

    from ._ui import err_console

    for w in warnings:
        err_console().print(f"[yellow]warning:[/] {escape(w)}", highlight=False, soft_wrap=True)
    for e in errors:
        err_console().print(f"[bold red]error:[/] {escape(e)}", highlight=False, soft_wrap=True)
    if errors:
        err_console().print("[yellow]hint:[/] every figure above is complete (budgets do not change costs); "
                            "fix the file(s) in Git and commit", highlight=False, soft_wrap=True)


@cost_app.command("report")
def cost_report(by: str = typer.Option("team", help="team | project | module | cost_center | namespace | digest"),
                since: Optional[str] = typer.Option(None, help="ISO date or time (UTC)"),
                chart: Optional[Path] = typer.Option(None, help="PNG path (default <home>/reports/cost-<by>.png)"),
                json_out: bool = typer.Option(False, "--json", help="JSON for scripts (exact decimal strings).")) -> None:
    """Cost per team/project/module with idle cost and a total row, in the price sheet's currency;
    writes a stacked cost-over-time chart. A broken budget or module file does not hide any figure:
    it is named (file and field) on stderr after the report, and the command then exits 1. A budget
    that names no team or project of any manifest or telemetry is a warning."""
    from ..finops import chart_png, report
    from ..finops.report_table import report_rows

    from ..errors import UserError

    if by not in REPORT_BY:
        raise UserError(f"cannot group by {by!r}; choose one of {', '.join(REPORT_BY)}", where="--by")
    s = workspace()
    desired, samples, costs = _costs(since, tolerant=True)
    errors, warnings = _budget_problems(desired, samples)
    if json_out:
        rep = report(costs, by=by, since=since).reset_index()
        print(json.dumps([{k: _json_value(v) for k, v in r.items()} for r in rep.to_dict("records")], indent=1))
    else:
        currency = costs.attrs.get("currency") or "?"
        rows = report_rows(costs, by=by, since=since)
        console().print(table(f"cost by {by}, in {currency}", rows))
        path = chart or s.paths.report(f"cost-{by}.png")
        path.parent.mkdir(parents=True, exist_ok=True)
        chart_png(costs, path, by="team" if by == "module" else by)
        console().print(f"chart: {path}")
    _say_problems(errors, warnings)
    if errors:
        raise typer.Exit(1)


@cost_app.command("export")
def cost_export(out: Path = typer.Option(..., "-o", help="FILE.csv or FILE.parquet"),
                format: str = typer.Option("focus", "--format"),
                since: Optional[str] = typer.Option(None),
                strict_names: bool = typer.Option(False, "--strict-1.0-names",
                                                  help="Drop the 5 FOCUS 0.5 aliases focus-validator 1.0.0 checks.")) -> None:
    """Export costs as a FOCUS 1.0 dataset (the windows `cost report --since` counts: those starting at or
    after --since). A broken budget or module file does not stop it (budgets do not change costs): it
    is named after the export, which then exits 1."""
    from ..errors import SpecError
    from ..finops import in_period, to_focus, write_focus

    if format != "focus":
        raise SpecError(f"unknown format {format!r}; only 'focus'", where="--format")
    if out.suffix not in (".csv", ".parquet"):      # before the costs are computed, not after
        raise SpecError("write .csv or .parquet", where=str(out))
    desired, samples, costs = _costs(since, tolerant=True)
    df = to_focus(in_period(costs, since), desired.pricing)
    write_focus(df, out, validator_compat=not strict_names)
    console().print(f"wrote {len(df)} FOCUS rows to {out}")
    errors, warnings = _budget_problems(desired, samples)
    _say_problems(errors, warnings)
    if errors:
        raise typer.Exit(1)


def _short_reason(h: dict) -> str:
    return (f"not enough history yet: {h['history_hours']:g} h of telemetry, {h['needed_hours']} h needed "
            "before its memory and fuel limits are sized")


@cost_app.command("recommend")
def cost_recommend(apply: bool = typer.Option(False, "--apply", help="Commit the changes on a branch of the GitOps repo."),
                   idle_days: int = typer.Option(7), lookback_days: int = typer.Option(14),
                   json_out: bool = typer.Option(False, "--json", help="JSON for scripts.")) -> None:
    """Idle modules, over-provisioned memory and fuel limits, with the expected monthly saving."""
    from ..finops import recommend
    from ..finops.waste import propose_rightsizing, short_history
    from wasmops.gitops.repo import GitOpsRepo

    desired, samples, _ = _costs(None)
    recs = recommend(samples, desired, desired.pricing, now=datetime.now(timezone.utc), idle_days=idle_days,
                     lookback_days=lookback_days)
    short = short_history(samples, desired, now=datetime.now(timezone.utc), lookback_days=lookback_days)
    if json_out and not apply:
        print(json.dumps([{"module": r.key, "kind": r.kind, "current": _json_value(r.current),
                           "recommended": _json_value(r.recommended), "monthly_saving": _json_value(r.monthly_saving),
                           "reason": r.reason} for r in recs]
                         + [{**h, "kind": "not-enough-history", "current": None, "recommended": None,
                             "monthly_saving": "0", "reason": _short_reason(h)} for h in short], indent=1))
        return
    rows = [{"module": r.key, "kind": r.kind, "change": f"{r.current} → {r.recommended}",
             "saving/month": f"{r.monthly_saving:.2f}", "why": r.reason} for r in recs]
    console().print(table("recommendations", rows) if rows else
                    "no recommendations" + (" yet" if short else ""))
    for h in short:
        console().print(f"{h['module']}: {_short_reason(h)}")
    if apply and recs:
        done = propose_rightsizing(GitOpsRepo.from_settings(workspace()), recs)
        console().print(f"committed on branch {done.branch} ({done.sha[:10]}); review and merge it after approval"
                        if done.created else f"the same change is already on branch {done.branch} "
                        f"({done.sha[:10]}); nothing committed")
