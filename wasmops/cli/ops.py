"""Operations: up, down, status, and the AI commands (models train|audit, score)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import typer

from . import app
from ._ui import console, err_console, settings, table, workspace

models_app = typer.Typer(help="Train, promote and audit the anomaly and cost models.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@app.command()
def up(serve: bool = typer.Option(True, help="Also start the process that runs the prefect.yaml deployments."),
       mlflow: bool = typer.Option(True, help="Also start the MLflow UI."),
       host: bool = typer.Option(True, help="Also start the host (`wasmops host`)."),
       database: str = typer.Option(None, "--database", envvar="WASMOPS_DATABASE_URL", metavar="URL",
                                    help="postgresql://USER[:PASSWORD]@HOST[:PORT]/DB: the Prefect server and "
                                         "MLflow keep their data there (default: SQLite files in the workspace). "
                                         "Checked before anything starts."),
       bind: str = typer.Option("127.0.0.1", "--bind", metavar="ADDRESS",
                                help="Address of this machine the services listen on, for workers and agents "
                                     "on other machines (their URLs in services.json use it)."),
       prefect_port: int = typer.Option(None, "--prefect-port", min=1, max=65535, metavar="PORT",
                                        help="The Prefect server's port (default 4200, else a free one)."),
       mlflow_port: int = typer.Option(None, "--mlflow-port", min=1, max=65535, metavar="PORT",
                                       help="The MLflow server's port (default 5000, else a free one)."),
       host_port: int = typer.Option(None, "--host-port", min=1, max=65535, metavar="PORT",
                                     help="The host's port (default 8700, else a free one).")) -> None:
    """Start the Prefect server, MLflow UI, host and deployment runner (on 127.0.0.1 unless --bind); wait
    until healthy. A port given by option must be free (one line, nothing started); a default port
    that is taken is replaced by a free one, and the URLs printed say which."""
    from ..services import DEFAULT_PORTS, Database, Services, check_bind
    from ..workspace import init_workspace

    check_bind(bind)                    # not an address of this machine: one line, nothing started
    db = Database.parse(database) if database else None
    if db:
        db.check()                      # a bad URL or a database that does not answer: one line, nothing started
    s = settings()
    svc = Services(s, bind=bind)
    prefect_was_running = "prefect" in svc.running()
    own_host = _hand_started_host(svc, s, host_port) if host else None
    host = host and own_host is None
    svc.check_ports({"prefect": prefect_port, "mlflow": mlflow_port if mlflow else None,
                     "host": host_port if host else None})     # one line, nothing started
    if not (s.gitops_dir / ".git").exists():
        init_workspace(s, progress=lambda m: err_console().print(f"[dim]{m}[/]"))
    _same_store(svc, db)
    started = []
    with console().status("starting the Prefect server" + (", MLflow" if mlflow else "") + (", the host" if host else "")
                          + " …"), svc.together():          # independent: started at once, waited on together
        started.append(svc.start_prefect(prefect_port, database=db))
        started += [svc.start_mlflow(mlflow_port, database=db)] if mlflow else []
        started += [svc.start_host(host_port)] if host else []
    if not prefect_was_running:
        _free_orphaned_locks(s)
    if serve:                                              # needs the Prefect server
        with console().status("starting serve …"):
            started.append(svc.start_serve())
    for sv in started:
        console().print(f"[green]✓[/] {sv.name:8} {sv.url}  (pid {sv.pid}, log {sv.log})", soft_wrap=True)
        port, usual = urlsplit(sv.url).port, DEFAULT_PORTS.get(sv.name)
        if usual and port != usual and not {"prefect": prefect_port, "mlflow": mlflow_port, "host": host_port}[sv.name]:
            err_console().print(f"[yellow]note:[/] {usual} was taken, so {sv.name} listens on {port} "
                                f"(--{sv.name}-port chooses)", soft_wrap=True)
    if own_host:
        console().print(f"[green]✓[/] host     {own_host}  (already running, started outside `wasmops up`: "
                        "`wasmops down` leaves it)", soft_wrap=True)
    console().print(f"data: {db.redacted if db else 'SQLite in ' + str(s.home)}")
    console().print(f"Prefect UI: {started[0].url}   stop everything with `wasmops down`")


def _free_orphaned_locks(s) -> None:
    """A Prefect server that has just started holds no lease: release locks still counted from the last one."""
    from ._prefect import configure

    configure(s)
    from flows._concurrency import reset_orphaned_locks

    freed = reset_orphaned_locks()
    if freed:
        err_console().print(f"[yellow]note:[/] freed {', '.join(freed)}: their holders' leases were lost with the "
                            "previous Prefect server (re-run those releases)", soft_wrap=True)


def _hand_started_host(svc, s, host_port: int | None) -> str | None:
    """The URL of a `wasmops host` that serves this workspace (the one its commands reach, answering
    the admin API with the workspace's token) when `up` did not start it, else None. `up` started a
    second host on the same state directory beside it: the CLI then talked to the new one while the
    first (the README's `wasmops host &`) kept serving modules rolled back and quarantined since."""
    import httpx

    from ..host.client import endpoint

    if "host" in svc.running():
        return None
    url, token = endpoint(s)
    try:
        ok = bool(token) and httpx.get(f"{url}/admin/modules", headers={"Authorization": f"Bearer {token}"},
                                       timeout=2).status_code == 200
    except httpx.HTTPError:
        ok = False
    if ok and host_port is not None and urlsplit(url).port != host_port:
        from ..errors import ConfigError

        raise ConfigError(f"a `wasmops host` for this workspace already runs at {url}", where="--host-port",
                          hint="stop that host first, or leave --host-port out and `up` uses it")
    return url if ok else None


def _same_store(svc, db) -> None:
    """Running services stay as they are: asking for another database than theirs is an error."""
    rec, want = svc._load(), db.redacted if db else "sqlite"
    for name in ("prefect", "mlflow"):
        have = rec.get(f"{name}_database", "sqlite")
        if name in svc.running() and have != want:
            from ..errors import ConfigError

            raise ConfigError(f"{name} is already running on {have}, not {want}", where="--database",
                              hint="`wasmops down` first to move it to another database")


@app.command()
def down() -> None:
    """Stop what `wasmops up` started: the deployment runner and MLflow first, the Prefect server last.
    The host's counters are scraped into the telemetry store first: they restart from zero with it."""
    from ..services import Services

    svc = Services(workspace())
    if "host" in svc.running():
        _last_scrape()
    stopped = svc.stop()
    console().print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


def _last_scrape() -> None:
    """Usage since the last scrape would be lost with the host's counters (found from outside: 300
    requests served between a scrape and `down` were never billed)."""
    from ..host.client import HostClient
    from ..telemetry import Collector, Store, scrape_host

    s = settings()
    try:
        hc = HostClient.from_workspace(s)
        rows = scrape_host(hc, Collector(Store.open(s), source=hc.url))
    except Exception as exc:  # noqa: BLE001 - stopping must not fail on it; say what is lost
        err_console().print(f"[yellow]note:[/] the host's counters were not scraped before it stopped ({exc}); "
                            "usage since the last scrape is not billed", soft_wrap=True, highlight=False)
        return
    console().print(f"scraped the host's counters into the telemetry store ({len(rows)} rows)", highlight=False)


@app.command()
def status(json_out: bool = typer.Option(False, "--json")) -> None:
    """What runs, the live modules, pending approvals, the last verdicts and budget status."""
    from wasmops.gitops.decisions import list_decisions
    from ..services import Services
    from ._status_verdicts import digests_cell, verdict_rows

    s = workspace()
    svc = Services(s)
    running = svc.running()
    out: dict = {"services": {n: {"url": v.url, "pid": v.pid} for n, v in running.items()}}
    try:
        from ..host.client import HostClient

        hc = HostClient.from_workspace(s)
        out["modules"] = [{"key": f"{m['namespace']}/{m['name']}", "manifest": m["digest"], "health": m["health"],
                           **({"rollout": _rollout_cell(s, m)} if m.get("canary") else {})}
                          for m in hc.modules()]
        out["host_url"] = hc.url        # a host started outside `up` is in no services row: say which one answered
    except Exception as exc:  # noqa: BLE001 - status reports, it does not fail
        out["modules_error"] = str(exc)
    if "prefect" in running:
        from ._prefect import configure

        configure(s)
        from flows.ops import pending_approvals

        try:
            out["approvals"] = [{"id": r["id"], "name": r["name"]} for r in pending_approvals()]
        except Exception as exc:  # noqa: BLE001 - a Prefect server starting or hung: status reports it
            out["approvals_error"] = f"{running['prefect'].url} does not answer: {str(exc).splitlines()[0][:200]}"
    out["broken_files"] = _broken_files(s)
    ds = list_decisions(s.gitops_dir, limit=200) if s.gitops_dir.exists() else []
    out["verdicts"] = verdict_rows(ds)
    out["budgets"] = [{"at": d.at[:19], "subject": d.subject, "verdict": d.verdict} for d in ds if d.kind == "budget"][:5]
    if json_out:
        print(json.dumps(out, indent=1, default=str))
        return
    c = console()
    c.print(table("services", [{"name": k, **v} for k, v in out["services"].items()]) if running
            else "no services running (`wasmops up`)")
    if "modules" in out:
        from ..digests import short

        rows = [{**m, "manifest": short(m["manifest"])} for m in out["modules"]]   # --json keeps the full digest
        c.print(table(f"live modules on {out['host_url']}", rows) if rows else f"no live modules on {out['host_url']}")
    else:
        c.print(f"host: {out.get('modules_error')}")
    if out["broken_files"]:
        c.print(table("broken files in Git (the reconciler skips them; other modules are unaffected)",
                      out["broken_files"]))
    if out.get("approvals") is not None:
        c.print(table("pending approvals", out["approvals"]) if out["approvals"] else "no pending approvals")
    elif out.get("approvals_error"):
        c.print(f"approvals: {out['approvals_error']}", soft_wrap=True, highlight=False)
    c.print(table("last AI verdicts", [{**{k: v for k, v in r.items() if k != "digests"}, "digest": digests_cell(r["digests"])}
                                       for r in out["verdicts"]]) if out["verdicts"] else "no AI verdicts yet")
    c.print(table("budget decisions", out["budgets"]) if out["budgets"] else "no budget decisions yet")


def _broken_files(s) -> list[dict]:
    """Committed GitOps files that do not load (file, what is wrong): the reconciler skips them, so
    a module defined there is neither updated nor pruned (found from outside: status said all healthy)."""
    if not s.gitops_dir.exists():
        return []
    from wasmops.gitops.repo import GitOpsRepo

    try:
        errors = GitOpsRepo.from_settings(s).desired().errors
    except Exception as exc:  # noqa: BLE001 - status reports, it does not fail
        return [{"file": str(s.gitops_dir), "problem": f"cannot be read: {str(exc).splitlines()[0][:200]}"}]
    return [{"file": e.file, "problem": e.message} for e in errors]


def _rollout_cell(s, m: dict) -> str:
    """``step 2/3: stable 50 % sha256:… / canary 50 % sha256:…`` for a module with a canary (step from Git)."""
    from ..digests import short

    c = m["canary"]
    step = ""
    try:
        from wasmops.gitops.repo import GitOpsRepo

        man = GitOpsRepo.from_settings(s).desired().deployments.get(f"{m['namespace']}/{m['name']}")
        prog = man.spec.rollout.in_progress if man else None
        step = f"step {prog.step + 1}/{len(man.spec.rollout.steps)}: " if prog else "not in Git: "
    except Exception:  # noqa: BLE001 - status reports, it does not fail
        pass
    return f"{step}stable {100 - c['weight']} % {short(m['digest'])} / canary {c['weight']} % {short(c['digest'])}"


@models_app.command("train")
def models_train(allow_synthetic: bool = typer.Option(False, "--allow-synthetic",
                                                      help="Let a model trained on synthetic telemetry become @champion "
                                                           "(tests and the demo only)."),
                 synthetic: bool = typer.Option(False, help="Train on freshly synthesized history instead of the "
                                                            "store (tests; the store is not touched)."),
                 days: int = typer.Option(28, min=1, help="Days of history to read from the telemetry store."),
                 holdout_days: int = typer.Option(7, min=1, help="The newest days, held out to judge the candidate on."),
                 min_history_days: float = typer.Option(14.0, help="Modules with less history are left out (hold)."),
                 modules: int = typer.Option(30, help="With --synthetic: how many synthetic modules."),
                 seed: int = 0) -> None:
    """Train on each module's own validated history (GX) from the telemetry store, register in MLflow,
    promote @champion only if better (and, for synthetic data, only with --allow-synthetic)."""
    from ..errors import UserError
    from ._prefect import configure

    if holdout_days >= days:
        raise UserError(f"--holdout-days {holdout_days} leaves no training history in --days {days}", where="--holdout-days",
                        hint="hold out fewer days than you read (the default: 7 of 28)")
    configure(workspace())
    from flows.train_models import train_models

    from flows._owner import owned

    with owned():
        out = train_models(allow_synthetic=allow_synthetic, synthetic=synthetic, days=days, holdout_days=holdout_days,
                           min_history_days=min_history_days, modules=modules, seed=seed)
    c = console()
    c.print(f"data: {out['data']['summary']} (data.source {out['data']['source']})", soft_wrap=True)
    for key, why in sorted(out["cold"].items()):
        c.print(f"  left out {key}: {why}", soft_wrap=True, highlight=False)
    for kind in ("anomaly", "cost"):
        r = out.get(kind)
        if r is None:
            from models.training import nothing_trained

            c.print(f"{kind}: nothing trained: {nothing_trained(out.get(f'cold_{kind}', out['cold']))}",
                    soft_wrap=True, highlight=False)
            continue
        mark = "[green]promoted[/]" if r["promoted"] else "[yellow]not promoted[/]"
        metrics = ", ".join(f"{k}={v:.4f}" for k, v in r["metrics"].items() if isinstance(v, float))
        c.print(f"{kind}: {r['name']} v{r['version']} {mark} (data.synthetic={str(r['synthetic']).lower()}; "
                f"{metrics}); {r['reason']}", soft_wrap=True)
        if r.get("forecast_by"):
            c.print(f"  modules forecast by: {r['forecast_by']}", soft_wrap=True, highlight=False)


@models_app.command("audit")
def models_audit(days: int = 28, synthetic: bool = typer.Option(False)) -> None:
    """Bias audit of the champion anomaly model: false-positive and alert rates per team (labelled rows;
    the store keeps no labels, so on its rows only alert rates, and no fairness conclusion)."""
    import pandas as pd

    from models.audit import bias_audit, without_baseline
    from models.registry import load_champion

    from ..errors import NotFound
    from ..telemetry import Store, synthesize

    try:
        model, info = load_champion("anomaly")
    except LookupError:
        raise NotFound("no @champion anomaly model to audit yet", where="wasmops-anomaly",
                       hint="train one first: `wasmops models train` (`wasmops models history` shows the "
                            "promotions)") from None
    c = console()
    c.print(f"model {info['name']} v{info['version']} @champion")
    if synthetic:
        df = synthesize(modules=30, days=days, seed=11, end=pd.Timestamp.now(tz="UTC").floor("h"))
        c.print(f"rows: {len(df)} synthesized now, with labelled anomalies (--synthetic)")
    else:
        store = Store.open(workspace())
        df = store.read(since=pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=days))
        real = len(store.without_synthetic(df))
        if real < len(df):
            c.print(f"rows: {len(df) - real} of {len(df)} from the store are synthetic (`telemetry synth`); "
                    "their injected anomalies are not labelled there", soft_wrap=True, highlight=False)
    df, notes = without_baseline(df, model)
    for note in notes:
        c.print(f"[yellow]left out[/] {note}", soft_wrap=True, highlight=False)
    if df.empty:
        raise NotFound(f"no telemetry of a module the model knows in the last {days} days to audit", where="--days")
    _print_audit(bias_audit(df, model=model))


def _print_audit(res) -> None:
    c = console()
    c.print(table("per team", res.table.to_dict("records")))
    if not res.labelled:
        c.print("[yellow]no labels[/] in these rows (the store keeps none): false-positive rates and recall cannot "
                "be measured, so no fairness conclusion is drawn; alert rates per team are shown "
                "(`--synthetic` audits labelled synthetic rows)", soft_wrap=True, highlight=False)
    for group, reason in res.flags.items():
        c.print(f"[red]flag[/] {group}: {reason}" if res.labelled else f"[yellow]alert-rate gap[/] {group}: {reason}",
                soft_wrap=True, highlight=False)
    if not res.flags and res.labelled:
        c.print("[green]no unfair gaps flagged[/]")


@app.command()
def score(window_minutes: int = typer.Option(60, min=1, help="Score the telemetry of the last N minutes."),
          freshness_minutes: int = typer.Option(30, min=0, help="Newest row at most this old, else hold (0: no check)."),
          shadow: bool = typer.Option(True, help="Also run the challenger in shadow (recorded, never acted upon)."),
          min_windows: int = typer.Option(2, min=1, help="Fewer windows with traffic than this: hold.")) -> None:
    """Validate the newest telemetry, score it with the champion model (and the challenger in shadow),
    record verdicts."""
    from ._prefect import configure

    configure(workspace())
    from flows.score import score as score_flow

    from ..digests import shown

    from flows._owner import owned

    with owned():
        verdicts = score_flow(window_minutes=window_minutes, freshness_minutes=freshness_minutes or None,
                              shadow=shadow, min_windows=min_windows)
    for v in verdicts:
        if v.get("kind") == "monitor":
            console().print(f"[dim]monitor[/] {v['subject']}: [bold]{v['verdict']}[/] {v['explanation']}", soft_wrap=True)
            continue
        tag = f"[dim]shadow v{v['model'].get('version')}[/] " if v.get("shadow") else ""
        console().print(f"{tag}{v['subject']} {shown('manifest', v['digest'] or None)}: [bold]{v['verdict']}[/] {v['explanation']}",
                        soft_wrap=True)


from . import worker as _worker  # noqa: E402,F401  (registers `wasmops worker`)
