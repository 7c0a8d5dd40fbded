"""Input and output checks shared by `wasmops models benchmark` and `backtest-forecast`: the --out
path is checked before any work, notes go to stderr, CSVs are written with LF line endings."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UserError
from ._ui import err_console


def check_out(out: Path | None) -> None:
    """Refuse an --out that cannot be written, in one line naming it, before any work is done."""
    if out is None:
        return
    hint = "give --out a file path in an existing, writable directory"
    if out.is_dir():
        raise UserError("--out is a directory, not a file", where=str(out), hint=hint)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"--out: the directory {parent} does not exist", where=str(out), hint=hint)
    if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise UserError("--out: not writable", where=str(out), hint=hint)


def write_text(out: Path, text: str) -> None:
    """Write ``text`` to ``out`` (LF line endings); an OS error is one line naming the file."""
    try:
        with open(out, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    except OSError as exc:
        raise UserError(f"--out: cannot write: {exc.strerror or exc}", where=str(out)) from exc


def print_notes(notes: list[str]) -> None:
    for n in notes:
        err_console().print(f"[yellow]note:[/] {n}", soft_wrap=True, highlight=False)
