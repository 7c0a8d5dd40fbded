"""The ``wasmops`` console script: imports the CLI, then runs it.

Importing the CLI (typer, rich and every command module) takes a moment; a Ctrl-C in that moment
ended in a traceback through the import machinery. Here it ends like any other interrupt: exit 130,
one line."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from wasmops.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    run()
