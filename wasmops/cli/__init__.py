"""The ``wasmops`` command line (typer + rich).

Heavy libraries (wasmtime, oras, prefect, GX, MLflow) are imported inside the commands that need
them, so ``wasmops --help`` starts in a fraction of a second. User errors are printed without a
traceback; set ``WASMOPS_DEBUG=1`` to see one.
"""

from __future__ import annotations

import os
import sys

import typer

app = typer.Typer(
    name="wasmops",
    help="Release WebAssembly modules. Start with: new → test → add → release. A release runs build → test → "
         "policy → sign → publish → budget gate → commit → approval → reconcile → verify → AI check.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)



@app.callback()
def _global(verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's own log lines too.")) -> None:
    """Global options."""
    if verbose:
        os.environ["WASMOPS_VERBOSE"] = "1"


from . import agent, data, decisions, hostcmd, models_cmd, onboard, ops, release, render, supply  # noqa: E402,F401  (registers commands)


def main() -> None:
    from ..errors import WasmopsError

    try:
        app()
    except WasmopsError as exc:
        from ..config import current

        if current().debug:
            raise
        from ._ui import err_console

        from rich.markup import escape

        # diagnostics() is "where: message", then "hint: ..." when there is one, then the retry advice;
        # here it only gets its colours (the first line stays "error: ...", the hint line "hint: ...").
        what, _, advice = exc.diagnostics().rpartition("\n")
        hint = ""
        if exc.hint:
            what, _, hint = what.rpartition("\nhint: ")
            hint = f"\n[yellow]hint:[/] {escape(hint)}"
        err_console().print(f"[bold red]error:[/] {escape(what)}{hint}\n[dim]{escape(advice)}[/]",
                            highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        if len(sys.argv) > 1 and sys.argv[1] == "release":     # it stopped with no word on what happened
            from ._ui import err_console

            err_console().print("[yellow]interrupted:[/] a release stopped before its verify finished rolls back "
                                "its commit (Git reverted, the host back on what Git says); `wasmops status` and "
                                "`wasmops decisions` show where it stands, and the same command releases again",
                                highlight=False, soft_wrap=True)
        sys.exit(130)
