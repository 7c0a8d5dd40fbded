"""Console helpers shared by the CLI commands."""

from __future__ import annotations

import functools
import os
from decimal import Decimal


def console():
    """The stdout console; a new one when ``COLUMNS`` changed (rich reads it once, when built: a
    console built before a test set COLUMNS kept 80 columns for the rest of the process)."""
    return _console(os.environ.get("COLUMNS"), stderr=False)


def err_console():
    return _console(os.environ.get("COLUMNS"), stderr=True)


@functools.lru_cache(maxsize=None)
def _console(columns: str | None, stderr: bool):
    from rich.console import Console

    return Console(stderr=stderr)


def table(title: str, rows: list[dict], columns: list[str] | None = None):
    """A rich table that never cuts a value: numbers keep their full width (never wrapped or
    shortened), text columns wrap (fold) instead of ending in an ellipsis. Where the columns cannot
    fit the width (8 columns at 80: headers split mid-word, a column squeezed to nothing), one block
    per row instead (:class:`_Fitted`)."""
    from rich.table import Table

    cols = columns or (list(rows[0].keys()) if rows else [])
    t = Table(title=title, title_justify="left")
    cells = {c: [_fmt(r.get(c)) for r in rows] for c in cols}
    numeric = {c for c in cols if all(_is_number(r.get(c)) for r in rows)}
    for c in cols:
        if c in numeric:
            width = max([len(c)] + [len(x) for x in cells[c]])
            t.add_column(c, justify="right", no_wrap=True, min_width=width)
        else:
            t.add_column(c, overflow="fold")
    for i in range(len(rows)):
        t.add_row(*[cells[c][i] for c in cols])
    return _Fitted(t, title, cols, cells, numeric)


class _Fitted:
    """The table when every column gets at least its header's width (numbers: their whole width,
    text: up to ``TEXT_MIN`` characters); else the same values as one block per row."""

    TEXT_MIN = 16

    def __init__(self, t, title: str, cols: list[str], cells: dict[str, list[str]], numeric: set[str]):
        self.table, self.title, self.cols, self.cells, self.numeric = t, title, cols, cells, numeric

    def needed(self) -> int:
        from rich.text import Text

        def width(c: str) -> int:
            longest = max((Text.from_markup(x).cell_len for x in self.cells[c]), default=0)
            return max(len(c), longest if c in self.numeric else min(longest, self.TEXT_MIN))
        return sum(width(c) + 3 for c in self.cols) + 1

    def __rich_console__(self, console, options):
        from rich.text import Text

        if self.needed() <= options.max_width:
            yield self.table
            return
        yield Text(self.title, style="italic")
        first, rest = self.cols[0], self.cols[1:]
        for i in range(len(self.cells[first]) if self.cols else 0):
            yield Text.assemble(("- ", "dim"), Text.from_markup(self.cells[first][i], style="bold"))
            for c in rest:
                yield Text.assemble(("    " + c + ": ", "dim"), Text.from_markup(self.cells[c][i]))


def _is_number(v) -> bool:
    return v is None or (isinstance(v, (int, float, Decimal)) and not isinstance(v, bool))


def fmt_number(v) -> str:
    """Numbers as people read them: ints whole, floats to 6 significant digits, never cut."""
    if isinstance(v, bool) or not isinstance(v, (int, float, Decimal)):
        return str(v)
    if isinstance(v, float):
        return format(v, ".6g")
    if isinstance(v, Decimal):
        return format(v, "f")        # positional: 0.000000200, never 2.00E-7
    return str(v)


def _fmt(v) -> str:
    from rich.markup import escape

    if v is None:
        return "-"
    if v == "pass":
        return "[green]pass[/]"
    if v == "FAIL":
        return "[red]FAIL[/]"
    return escape(fmt_number(v))


def settings():
    from ..config import current

    return current()


def workspace():
    """The settings of the workspace a command reads (status, decisions, approvals, reconcile, costs, ...):
    where there is none, one line naming the nearest and nothing created (no ./.wasmops/{logs,run,prefect},
    no fresh Prefect database answering "no pending approvals" while the real ones wait elsewhere).
    Commands that need no workspace (init, new, test, build, check, sign, verify) use ``settings()``."""
    from ..workspace import require

    return require(settings())
