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
    from ..interrupts import keep_interrupts

    keep_interrupts()     # a Ctrl-C that lands in a finalizer is raised again, not ignored
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
    except Exception as exc:  # noqa: BLE001 - only an orchestrator that failed to answer is printed here
        from ..config import current

        why = orchestrator_failure(exc)
        if why is None or current().debug:
            raise
        from ._ui import err_console

        from rich.markup import escape

        err_console().print(f"[bold red]error:[/] the Prefect server failed: {escape(why)}\n[dim]`wasmops status` "
                            "says whether it runs; `wasmops decisions` shows where a release stands, and the same "
                            "command carries it on (finished steps are not repeated)[/]", highlight=False,
                            soft_wrap=True)
        sys.exit(1)
    except SystemExit as exc:
        if exc.code == 130:         # typer turns a Ctrl-C into a silent Exit(130): say what happened
            _interrupted()
        raise
    except KeyboardInterrupt:
        _interrupted()
        sys.exit(130)


def _interrupted() -> None:
    """One line after a Ctrl-C of ``release`` (found from outside: typer exited 130 with no word, so this
    line, under ``except KeyboardInterrupt`` only, was never printed)."""
    if next((a for a in sys.argv[1:] if not a.startswith("-")), None) == "release":
        from ._ui import err_console

        err_console().print("[yellow]interrupted:[/] a release stopped before its verify finished rolls back "
                            "its commit (Git reverted, the host back on what Git says); one stopped later "
                            "serves unjudged until the same command is run again, which verifies and judges "
                            "it (rolling it back if it regressed); `wasmops status` shows where it stands, and "
                            "`wasmops decisions --kind release` the record of where it stopped and what was "
                            "rolled back",
                            highlight=False, soft_wrap=True)


def orchestrator_failure(exc: BaseException) -> str | None:
    """One line for an exception that is the Prefect server not answering (refused, reset, timed out,
    a 5xx), found anywhere in its cause chain; None for anything else (a bug keeps its traceback)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        name = type(exc).__name__
        module = type(exc).__module__
        if module.startswith("httpx") and name in ("ConnectError", "ReadError", "WriteError", "RemoteProtocolError",
                                                    "ReadTimeout", "ConnectTimeout", "WriteTimeout", "PoolTimeout"):
            return f"{name}: {exc}"
        if name == "PrefectHTTPStatusError" and getattr(getattr(exc, "response", None), "status_code", 0) >= 500:
            r = exc.response
            return f"{r.status_code} {r.reason_phrase} for {r.request.method} {r.request.url.path}"
        exc = exc.__cause__ or exc.__context__
    return None
