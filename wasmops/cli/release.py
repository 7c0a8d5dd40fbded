"""Release-spine commands: release, approvals, approve, reject, reconcile, rollback, schema, quarantine."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Optional

import typer

from . import app
from ..digests import short, shown
from ._ui import console, err_console, table, workspace

quarantine_app = typer.Typer(help="Inspect or lift the quarantine list in Git.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")


def _prefect():
    from ._prefect import configure

    s = workspace()
    configure(s)
    return s


def _say_notes(c, notes) -> None:
    """What the preflight noticed and did not refuse (an old `add`'s prod module that says dev)."""
    for note in notes:
        c.print(f"[yellow]note:[/] {note}", soft_wrap=True, highlight=False)


def _reap(c) -> None:
    """Runs of wasmops processes that were killed (no word since) are marked Crashed, and said so."""
    from flows._owner import reap

    try:
        reaped = reap()
    except Exception as exc:  # noqa: BLE001 - housekeeping: it never stops the command it runs in
        c.print(f"[dim]could not check for flow runs of killed wasmops processes: {exc}[/]", soft_wrap=True)
        return
    for r in reaped:
        c.print(f"[yellow]crashed:[/] flow run {r['id']} ({r['name']}): {r['why']}", soft_wrap=True, highlight=False)


@app.command()
def release(
    module_dir: Path = typer.Argument(..., help="Module source directory."),
    target: Optional[str] = typer.Option(None, help="ns/name of the WasmModuleDeployment (default dev/<name>)."),
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Approve automatically (dev only)."),
    approval_timeout: int = typer.Option(3600, help="Seconds to wait for an approval before rejecting."),
    revision: str = typer.Option("", help="Source revision for the provenance."),
    ai_check: bool = typer.Option(True, "--ai-check/--no-ai-check",
                                  help="After verify, judge the new digest against the previous one (release "
                                       "judge: the same probe requests before and after the switch)."),
    ai_requests: int = typer.Option(60, "--ai-requests", help="Probe requests per side for the release judge."),
) -> None:
    """Run the release flow: build → test → policy → sign → publish → budget gate → commit → approval →
    reconcile → verify → AI check (the release judge: rolls back a regression; holds for a person when
    it cannot decide)."""
    from ..onboard import preflight

    s = workspace()
    # fleet mode (WASMOPS_FLEET_AGENTS): the agents' hosts serve the release; no local host is needed
    check = None if s.fleet_agents else (lambda: _host_reachable(s))
    pre = preflight(s, module_dir, target, auto_approve=auto_approve, check_host=check)
    key = pre.manifest.key
    c = console()
    from ._release_start import recorded_if_stopped_before_the_flow

    # a Ctrl-C or SIGTERM from this line on, before the flow's body records one itself, is on record too
    with recorded_if_stopped_before_the_flow(s, key):
        c.print(f"releasing {pre.source.name} → {key} ({pre.manifest.spec.environment})")
        _say_notes(c, pre.notes)
        _prefect()
        from flows.release import release as release_flow

        from ._progress import attach
        from flows._owner import owned

        _reap(c)              # before the progress handler: nothing Prefect sets up on the way may drop it
        attach(lambda line: c.print(line, soft_wrap=True))      # URLs and paths never broken across lines
        with owned():         # a run of this process, if it is killed, is marked Crashed by the next command
            res = release_flow(module_dir=str(module_dir.resolve()), target=key, auto_approve=auto_approve,
                               approval_timeout_s=approval_timeout, source_revision=revision, ai_check=ai_check,
                               ai_requests=ai_requests)
    if res.get("noop"):
        c.print(f"[green]nothing to do:[/] {res['key']} already serves {shown('manifest', res['manifest_digest'])} "
                f"({shown('wasm', res['wasm_digest'])}, commit {res['commit'][:10]})", soft_wrap=True, highlight=False)
        return
    v = res.get("verify") or {}
    ai = res.get("ai_verdict")
    held = bool(ai) and ai.get("verdict") == "hold"
    c.print(f"{'[yellow]released, held for a person:[/]' if held else '[green]released[/]'} {res['key']} tag "
            f"{res['tag']}: {shown('wasm', res['wasm_digest'])}, "
            f"{shown('manifest', res['manifest_digest'])} (commit {res['commit'][:10]}"
            f"{'' if res['commit_changed'] else ', already committed'}); verify: {v.get('summary', '-')}",
            soft_wrap=True, highlight=False)
    if ai:
        looks = ai.get("looks", 1)
        how = f", {looks} look{'s' * (looks > 1)}, {ai['requests']} requests a side" if ai.get("requests") else ""
        c.print(f"AI check (release judge{how}): {ai.get('judge', ai.get('verdict'))}: {ai.get('explanation', '')}",
                soft_wrap=True, highlight=False)
    if held:
        c.print(f"  the new digest serves; review it (`wasmops decisions --module {res['key']} --kind release-verdict`), "
                f"then keep it or `wasmops rollback {res['key']}`", soft_wrap=True, highlight=False)


def _host_reachable(s) -> None:
    from ..errors import TransientError
    from ..host.client import HostClient, endpoint

    url, token = endpoint(s)
    if not HostClient(url, token, timeout=2.0).ready():
        raise TransientError("the host is not reachable or not ready", where=url,
                             hint="start it with `wasmops host` (or `wasmops up`), then release again")


@app.command()
def approvals(json_out: bool = typer.Option(False, "--json")) -> None:
    """List flow runs paused for approval, with what they wait for."""
    _prefect()
    from flows.ops import pending_approvals

    _reap(console() if not json_out else err_console())
    runs = pending_approvals()
    if json_out:
        print(json.dumps(runs, indent=1))
        return
    if not runs:
        console().print("no pending approvals")
        return
    from rich.markdown import Markdown

    c = console()
    for r in runs:
        c.print(f"[bold]{r['id']}[/]  {r['name']}  {' '.join(r['tags'])}  (times out {r['timeout']})", soft_wrap=True)
        if r.get("owner_unknown"):
            c.print(f"  [yellow]note:[/] {r['owner_unknown']}", soft_wrap=True, highlight=False)
        if not r.get("form_ready", True):
            c.print("  waiting for its form (the run paused a moment ago)")
        elif r["description"]:
            c.print(Markdown(r["description"]))
        pol = r.get("policy")
        signed = " --key PATH" if pol and not pol.get("allow_unsigned") else ""
        if pol:
            c.print(f"  policy {', '.join(pol['policies'])} ({pol['rule']}): needs "
                    f"{'; '.join(pol['needs']) or 'nothing more'}; approved by "
                    f"{', '.join(pol['approved_by']) or 'nobody yet'}", soft_wrap=True, highlight=False)
            for line in pol.get("refused", [])[-5:]:
                c.print(f"  refused {line}", soft_wrap=True, highlight=False)
        c.print(f"  approve: wasmops approve {r['id']}{signed} --reason \"...\"", soft_wrap=True)
        c.print(f"  reject:  wasmops reject {r['id']} --reason \"...\"", soft_wrap=True)


def _answer(run_id: str, approve: bool, reason: str, approver: Optional[str], key: Optional[Path] = None) -> None:
    from ..errors import UserError
    from ..ids import flow_run_id

    flow_run_id(run_id)        # a short id or a typo: one line, before Prefect is even imported
    _prefect()
    from flows.ops import answer, approval_status, owner_note, submit_signed

    if key is not None:
        if not key.is_file():
            raise UserError("no such private key", where=str(key))
        v = submit_signed(run_id, private_key_pem=key.read_bytes(), approve=approve, reason=reason,
                          approver=approver)
        st = v["statement"]
        console().print(f"signed {st['decision']} of {st['target']} ({shown('manifest', st['manifestDigest'])}) "
                        f"as {st['approver']} "
                        f"for run {run_id}", soft_wrap=True, highlight=False)
        if v["accepted"] is False:
            raise UserError(f"refused by the run ({v['code']}): {v['message']}", where=run_id)
        more = "; ".join(v.get("needs") or []) or "nothing more"
        console().print(f"{v['message']}; still needed: {more}", soft_wrap=True, highlight=False)
        return
    st = approval_status(run_id)
    if approve and st is not None and not st.get("allow_unsigned"):
        raise UserError(f"run {run_id} waits under ApprovalPolicy {', '.join(st['policies'])} ({st['rule']}), "
                        "which counts only signed approvals", where=run_id,
                        hint=f"wasmops approve {run_id} --key PATH --reason \"...\"")
    answer(run_id, approve=approve, reason=reason, approver=approver or getpass.getuser())
    console().print(f"{'approved' if approve else 'rejected'} {run_id}: {reason}")
    note = owner_note(run_id)
    if note:
        console().print(f"[yellow]note:[/] run {run_id} was {note}", soft_wrap=True, highlight=False)


_KEY_HELP = "Your approver private key (PEM): sign the answer; ApprovalPolicies count only signed answers."


@app.command()
def approve(run_id: str, reason: str = typer.Option(..., help="Why (goes into the decision record)."),
            approver: Optional[str] = typer.Option(None, help="Who (default: your user name; with --key, the "
                                                              "key's name in approvers/<group>/)."),
            key: Optional[Path] = typer.Option(None, "--key", help=_KEY_HELP)) -> None:
    """Approve a paused release (with --key: a signed approval, counted by the run's ApprovalPolicy)."""
    _answer(run_id, True, reason, approver, key)


@app.command()
def reject(run_id: str, reason: str = typer.Option(..., help="Why (goes into the decision record)."),
           approver: Optional[str] = typer.Option(None, help="Who (default: your user name)."),
           key: Optional[Path] = typer.Option(None, "--key", help=_KEY_HELP)) -> None:
    """Reject a paused release (it rolls back)."""
    _answer(run_id, False, reason, approver, key)


@app.command()
def reconcile(
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing."),
    mode: str = typer.Option("heal", help="heal: restore Git's state; report: record drift only."),
    namespace: list[str] = typer.Option([], "--namespace", "-n", help="Limit to these namespaces."),
) -> None:
    """Make the host match Git: plan create/update/delete, apply, report conditions and drift."""
    from wasmops.gitops.repo import GitOpsRepo
    from ..host.client import HostClient
    from wasmops.gitops.reconcile import reconcile as do_reconcile

    s = workspace()
    desired, host = GitOpsRepo.from_settings(s).desired(), HostClient.from_workspace(s)
    _known_namespaces(desired, host, namespace)
    rep = do_reconcile(desired, host, registry=s.registry_base,
                       mode=mode, dry_run=dry_run, namespaces=set(namespace) or None, check_binding=True)
    if rep.error:   # nothing could be planned: one line, exit 1
        from ..errors import TransientError

        for key, why in rep.invalid.items():
            console().print(f"[red]Stalled[/] {key}: {why}", highlight=False, soft_wrap=True)
        raise TransientError(f"nothing planned or applied: {rep.error}",
                             hint="start the host (`wasmops host` or `wasmops up`) and reconcile again")
    console().print(table("plan" + (" (dry run)" if dry_run else ""), rep.rows()))
    if not dry_run:
        _record_lifts(s)
    if rep.drift:
        n = len({d.key for d in rep.drift})       # one Drift per changed field: count the modules
        console().print(f"[yellow]drift detected[/] in {n} module{'s' * (n != 1)}:")
        for d in rep.drift:
            console().print(f"  - {d.key}: {d.message}", highlight=False, soft_wrap=True)
    for key, why in rep.invalid.items():
        console().print(f"[red]Stalled[/] {key}: {why}", highlight=False, soft_wrap=True)
    console().print(rep.summary())
    # A dry run did its job if it could read the host and every manifest; a heal or report only if
    # the whole desired state in scope converged.
    done = rep.error is None and not rep.invalid if dry_run else rep.complete
    raise typer.Exit(0 if done else 1)


def _record_lifts(s) -> None:
    """Quarantines lifted since the last pass (by hand or with `quarantine remove`) become decision records."""
    from wasmops.gitops.quarantine_audit import record_lifts

    for d in record_lifts(s.gitops_dir):
        console().print(f"recorded {d.id}: {d.subject} {short(d.digest)} {d.explanation}", highlight=False,
                        soft_wrap=True)


def _known_namespaces(desired, host, asked: list[str]) -> None:
    """A namespace in neither Git nor the host is a typo: say so instead of an empty plan and exit 0."""
    if not asked:
        return
    known = {k.split("/")[0] for k in desired.deployments} | {e.namespace or (e.key or "").split("/")[0]
                                                             for e in desired.errors if e.key or e.namespace}
    unknown = [n for n in asked if n not in known]
    if unknown:
        try:
            known |= {m["namespace"] for m in host.modules()}
        except Exception:  # noqa: BLE001 - the reconcile below reports an unreachable host
            return
        unknown = [n for n in asked if n not in known]
    if unknown:
        from ..errors import UserError

        raise UserError(f"no module in namespace {', '.join(map(repr, unknown))}, in Git or on the host",
                        where="--namespace", hint=f"namespaces: {', '.join(sorted(known)) or 'none yet'}")


@app.command()
def rollback(key: str = typer.Argument(..., help="ns/name"), reason: str = typer.Option("manual rollback"),
             actor: Optional[str] = typer.Option(None),
             unrelease: bool = typer.Option(False, "--unrelease", help="Allow rolling back a target's only "
                                            "release: the host then stops serving it.")) -> None:
    """Revert the module's last release in Git, quarantine its digest, and reconcile."""
    from wasmops.release.rollback import rollback as do_rollback

    s = workspace()
    if not unrelease:
        _refuse_unrelease(s, key)
    out = do_rollback(s, key, reason=reason, actor=actor or getpass.getuser())
    restored = out.get("restored_digest")
    console().print(f"rolled back {key} in Git: quarantined {shown('manifest', out['digest'])}, now "
                    f"{shown('manifest', restored) if restored else 'unreleased'} ({out.get('reconcile', '')})",
                    soft_wrap=True, highlight=False)
    if out.get("pinned_warning"):
        err_console().print(f"[yellow]warning:[/] {out['pinned_warning']}", soft_wrap=True, highlight=False)
    if not out.get("converged", True):
        from ..errors import TransientError

        raise TransientError(f"the host does not serve the rollback of {key} yet: {out.get('reconcile', '')}",
                             hint="Git is reverted and the digest quarantined; run `wasmops reconcile` "
                                  "once the host is back")


def _refuse_unrelease(s, key: str) -> None:
    """A rollback of a target's only release deletes it from the host: only with --unrelease."""
    from ..errors import UserError
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.release.unfinished import previous_deploy

    repo = GitOpsRepo.from_settings(s)
    m = repo.desired().deployments.get(key)
    digest = m.spec.module_ref.digest if m else None
    if digest and repo.last_commit_for(key, digest) and previous_deploy(repo, key, digest, s.registry_base) is None:
        raise UserError(f"this is the only release of {key}: rolling it back leaves nothing to serve, and the host "
                        "deletes the module", where=key,
                        hint=f"`wasmops rollback {key} --unrelease` does that; or release a fixed version instead")


@app.command()
def schema(out: Optional[Path] = typer.Option(None, "-o", help="Directory to write one JSON Schema per kind."),
           kind: Optional[str] = typer.Option(None, help="Print only this kind.")) -> None:
    """Export the manifest kinds as JSON Schema (for editors and CI)."""
    from ..schemas import json_schemas

    schemas = json_schemas()
    if out:
        out.mkdir(parents=True, exist_ok=True)
        for name, sch in schemas.items():
            (out / f"{name}.json").write_text(json.dumps(sch, indent=2))
        console().print(f"wrote {len(schemas)} schemas to {out}")
        return
    print(json.dumps(schemas[kind] if kind else schemas, indent=2))


@quarantine_app.command("list")
def quarantine_list(json_out: bool = typer.Option(False, "--json", help="JSON for scripts.")) -> None:
    from wasmops.gitops.quarantine import load, repo_file

    entries = load(repo_file(workspace()))
    if json_out:
        print(json.dumps(entries, indent=1, default=str))
        return
    # A rollback quarantines both digests and records which is which; entries written by hand (or
    # before the kind was recorded) say "digest".
    rows = [{**e, "digest": shown(e["kind"], e["digest"]) if e.get("kind") else f"digest {short(e['digest'])}"}
            for e in entries]
    console().print(table("quarantine", rows, ["digest", "module", "reason", "at"]) if rows
                    else "nothing quarantined")


@quarantine_app.command("remove")
def quarantine_remove(digest: str, reason: str = typer.Option(..., help="Why it is safe again."),
                      actor: Optional[str] = typer.Option(None)) -> None:
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.gitops.quarantine import load, repo_file

    s = workspace()
    digest = _quarantined(digest, load(repo_file(s)), where=str(repo_file(s)))
    GitOpsRepo.from_settings(s).unquarantine(digest, actor=actor or getpass.getuser(), reason=reason)
    console().print(f"removed {short(digest)} from quarantine", highlight=False)
    _record_lifts(s)


def _quarantined(given: str, entries: list[dict], *, where: str) -> str:
    """The full digest of the one entry ``given`` names: the full digest, or the short one
    ``quarantine list`` shows (``sha256:0123456789ab…``, the ``…`` optional)."""
    from ..errors import NotFound, UserError

    prefix = given.strip().rstrip("…")
    found = sorted({e["digest"] for e in entries if e["digest"] == prefix or (
        len(prefix) >= len("sha256:") + 12 and str(e["digest"]).startswith(prefix))})
    if len(found) > 1:
        raise UserError(f"{given} names {len(found)} quarantined digests", where=where,
                        hint="give the full digest (`wasmops quarantine list --json`)")
    if not found:
        raise NotFound(f"{given} is not quarantined", where=where, hint="`wasmops quarantine list` shows what is")
    return found[0]
