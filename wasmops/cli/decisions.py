"""`wasmops decisions`: list decision records, show one whole, label one."""

from __future__ import annotations

import getpass
import json
from typing import Optional

import typer

from . import app
from ._ui import console, table, workspace

decisions_app = typer.Typer(help="List decision records (no subcommand) or label one.", invoke_without_command=True)
app.add_typer(decisions_app, name="decisions")


@decisions_app.callback()
def decisions(ctx: typer.Context, module: Optional[str] = typer.Option(None, "--module"), kind: Optional[str] = None,
              limit: int = 20, json_out: bool = typer.Option(False, "--json")) -> None:
    """List decision records (newest first; shadow verdicts marked). `wasmops decisions label ID
    --correct|--wrong` records an operator's judgement of one."""
    if ctx.invoked_subcommand is not None:
        return
    from wasmops.gitops.decisions import json_safe, list_decisions

    ds = list_decisions(workspace().gitops_dir, subject=module, kind=kind, limit=limit, shadow=None)
    if json_out:
        print(json.dumps(json_safe([d.model_dump() for d in ds]), indent=1, default=str, allow_nan=False))
        return
    rows = [{"at": d.at[:19], "id": d.id, "kind": d.kind + (" (shadow)" if d.shadow else ""), "subject": d.subject,
             "verdict": d.verdict, "actor": d.actor, "rule": d.policy_rule, "why": d.explanation} for d in ds]
    con = console()
    if not rows:
        con.print("no decisions recorded")
    elif con.width >= WIDE_TABLE:
        con.print(table("decisions", rows))
    else:                        # eight columns in 80 wrap every cell to a few letters: one block a record
        import textwrap

        from rich.text import Text

        wrap = lambda t: textwrap.fill(t, con.width - 1, initial_indent="  ", subsequent_indent="  ")  # noqa: E731
        for r in rows:
            con.print(Text.assemble((r["id"], "bold"), "  ", (str(r["verdict"]), "bold"), f"  {r['kind']}  {r['subject']}"),
                      soft_wrap=True)
            con.print(Text(wrap(f"{r['at'].replace('T', ' ')} · by {r['actor']} · rule {r['rule']}"), style="dim"),
                      soft_wrap=True)
            con.print(Text(wrap(str(r["why"]))), soft_wrap=True)


WIDE_TABLE = 140        # columns from which `wasmops decisions` is a table


@decisions_app.command("label")
def decisions_label(decision_id: str = typer.Argument(..., help="The decision's id (dec-...)."),
                    correct: Optional[bool] = typer.Option(None, "--correct/--wrong", help="Was its verdict right?"),
                    reason: str = typer.Option("", help="Why (goes into the label record)."),
                    should_be: Optional[str] = typer.Option(None, "--should-be", metavar="VERDICT",
                                                            help="With --wrong: the right verdict, for one "
                                                                 "without a single opposite (hold, marginal)."),
                    actor: Optional[str] = typer.Option(None, help="Who (default: your user name).")) -> None:
    """Record an operator's judgement of a decision as a new `label` record (the judged one is not rewritten)."""
    from wasmops.gitops.decisions import label_decision
    from ..errors import NotFound, UserError

    if correct is None:
        raise UserError("say whether the verdict was right", hint=f"wasmops decisions label {decision_id} --correct|--wrong")
    try:
        d = label_decision(workspace().gitops_dir, decision_id, correct=correct, reason=reason,
                           actor=actor or getpass.getuser(), should_be=should_be)
    except KeyError:
        raise NotFound("no such decision", where=decision_id, hint="`wasmops decisions` lists their ids") from None
    except ValueError as exc:
        raise UserError(str(exc), where=decision_id) from None
    console().print(f"labelled {decision_id} ({d.inputs['verdict']}) {d.verdict}: {d.id}"
                    + (f"; it should have been {d.output['truth']}" if not correct and d.output.get("truth") else ""),
                    soft_wrap=True, highlight=False)


@decisions_app.command("show")
def decisions_show(decision_id: str = typer.Argument(..., help="The decision's id (dec-...)."),
                   json_out: bool = typer.Option(False, "--json")) -> None:
    """One decision record whole: what was decided and why, the model and rule, its data (for a release
    verdict: the looks and requests a side) and its per-metric table."""
    from wasmops.gitops.decisions import get_decision, json_safe
    from ..errors import NotFound

    try:
        d = get_decision(workspace().gitops_dir, decision_id)
    except KeyError:
        raise NotFound("no such decision", where=decision_id, hint="`wasmops decisions` lists their ids") from None
    if json_out:
        print(json.dumps(json_safe(d.model_dump()), indent=1, default=str, allow_nan=False))
        return
    con = console()
    con.print(f"[bold]{d.id}[/]  [bold]{d.verdict}[/]  {d.kind}  {d.subject}  {d.at[:19].replace('T', ' ')}",
              soft_wrap=True, highlight=False)
    for label, value in (("why", d.explanation), ("actor", d.actor), ("rule", d.policy_rule),
                         ("model", " ".join(f"{k}={v}" for k, v in (d.model or {}).items())),
                         ("digest", d.digest), ("action", d.action),
                         ("data", ", ".join(f"{k}={v}" for k, v in (d.data or {}).items()))):
        if value:
            con.print(f"  {label}: {value}", soft_wrap=True, highlight=False)
    for line in _label_lines(d):
        con.print(f"  {line}", soft_wrap=True, highlight=False)
    rows = (d.output or {}).get("metrics") if isinstance(d.output, dict) else None
    if rows:
        con.print(table("per metric", [_metric_row(r) for r in rows]))


def _label_lines(d) -> list[str]:
    """For a label: the decision it judges. For a labelled decision: each label (the newest counts)."""
    from wasmops.gitops.decisions import labels_of

    if d.kind == "label":
        judged = d.inputs or {}
        truth = (d.output or {}).get("truth")
        return [f"labels: {d.refers_to} ({judged.get('kind')} {judged.get('verdict')}) as {d.verdict}"
                + (f"; it should have been {truth}" if d.verdict == "wrong" and truth else "")]
    return [f"label: {lab.verdict} by {lab.actor} at {lab.at[:19].replace('T', ' ')} ({lab.id})"
            + (f"; should have been {lab.output.get('truth')}" if lab.verdict == "wrong" else "")
            + (f": {lab.explanation}" if lab.explanation else "")
            for lab in labels_of(workspace().gitops_dir, d.id)]


def _metric_row(r: dict) -> dict:
    keep = ("metric", "classification", "baseline_centre", "canary_centre", "effect", "p_value", "cliffs_delta",
            "n_baseline", "n_canary", "weight", "test", "reason")
    return {k: (f"{r[k]:.4g}" if isinstance(r.get(k), float) else r.get(k, "")) for k in keep}
