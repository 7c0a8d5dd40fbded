"""Onboarding commands: ``wasmops new`` (scaffold a module) and ``wasmops add`` (its manifest in Git)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Optional

import typer

from . import app
from rich.markup import escape

from ._ui import console, workspace


@app.command()
def new(
    name: str = typer.Argument(..., help="Module name: lower-case letters, digits and '-'."),
    language: str = typer.Option(..., "--language", "-l", help="c | zig | wat"),
    directory: Optional[Path] = typer.Option(None, "--dir", help="Where to write it (default ./NAME)."),
) -> None:
    """Scaffold a module (module.yaml with limits, a success and an error case, and a source file)."""
    from ..onboard import scaffold

    d = scaffold(name, language, directory or Path(name))
    c = console()
    c.print(f"[green]created[/] {d}/module.yaml and {d}/{next(p.name for p in d.iterdir() if p.name != 'module.yaml')}")
    c.print("next:")
    c.print(f"  wasmops test {d}")
    c.print(f"  wasmops add {d} --target dev/{name} --team TEAM --project PROJECT")
    c.print(f"  wasmops release {d} --target dev/{name} --auto-approve")


@app.command()
def add(
    module_dir: Path = typer.Argument(..., help="Module source directory (with module.yaml)."),
    target: str = typer.Option(..., "--target", help="NAMESPACE/NAME of the new WasmModuleDeployment."),
    team: Optional[str] = typer.Option(None, help="Owning team (label 'team'; budgets and cost use it)."),
    project: Optional[str] = typer.Option(None, help="Project (label 'project'; cost attribution uses it)."),
    cost_center: Optional[str] = typer.Option(None, "--cost-center", help="Optional label 'cost-center'."),
    env: Optional[str] = typer.Option(None, "--env", help="dev | prod (prod always asks for approval). "
                                      "Default: prod for the namespaces prod, production, prod-*, else dev."),
    trust_level: str = typer.Option("sandboxed", "--trust-level", help="sandboxed | standard | trusted"),
) -> None:
    """Write the module's WasmModuleDeployment into the GitOps repo and commit it."""
    from ..errors import UserError
    from wasmops.gitops.repo import GitOpsRepo
    from ..onboard import Target, add_deployment, default_env, prebuilt_note

    if env not in (None, "dev", "prod"):
        raise UserError(f"--env must be dev or prod, not {env!r}", where="--env")
    from wasmops.supply.source import load_module_source

    t = Target.parse(target)
    load_module_source(module_dir)  # a clear error before any note or write
    c = console()
    env = env or default_env(t.namespace)
    if env == "dev" and default_env(t.namespace) == "prod":
        c.print(f"[yellow]note:[/] {t.key} is environment dev (--env dev): its releases are not asked for approval")
    if not team:
        team = getpass.getuser().lower().replace("_", "-") or "default"
        c.print(f"[yellow]note:[/] no --team given: labelled team={team} (budgets and cost reports group by it)")
    if not project:
        project = t.name
        c.print(f"[yellow]note:[/] no --project given: labelled project={project}")
    path, sha = add_deployment(GitOpsRepo.from_settings(workspace()), module_dir, t, team=team, project=project,
                               cost_center=cost_center, env=env, trust_level=trust_level)
    c.print(f"[green]added[/] {t.key} ({env}) → {path} (commit {sha[:10]})", soft_wrap=True)
    refused = prebuilt_note(workspace(), module_dir, path)
    if refused:
        c.print(f"[yellow]note:[/] {escape(refused)}", soft_wrap=True, highlight=False)
    c.print(f"next: wasmops release {module_dir} --target {t.key}" + (" --auto-approve" if env == "dev" else ""))

