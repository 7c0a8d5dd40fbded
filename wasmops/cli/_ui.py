"""Console helpers shared by the CLI commands."""

from __future__ import annotations

import functools
from decimal import Decimal


@functools.lru_cache(maxsize=None)
def console():
    from rich.console import Console

    return Console()


@functools.lru_cache(maxsize=None)
def err_console():
    from rich.console import Console

    return Console(stderr=True)


def table(title: str, rows: list[dict], columns: list[str] | None = None):
    """A rich table that never cuts a value: numbers keep their full width (never wrapped or
    shortened), text columns wrap (fold) instead of ending in an ellipsis."""
    from rich.table import Table

    cols = columns or (list(rows[0].keys()) if rows else [])
    t = Table(title=title, title_justify="left")
    cells = {c: [_fmt(r.get(c)) for r in rows] for c in cols}
    for c in cols:
        if all(_is_number(r.get(c)) for r in rows):
            width = max([len(c)] + [len(x) for x in cells[c]])
            t.add_column(c, justify="right", no_wrap=True, min_width=width)
        else:
            t.add_column(c, overflow="fold")
    for i in range(len(rows)):
        t.add_row(*[cells[c][i] for c in cols])
    return t


def _is_number(v) -> bool:
    return v is None or (isinstance(v, (int, float, Decimal)) and not isinstance(v, bool))


def fmt_number(v) -> str:
    """Numbers as people read them: ints whole, floats to 6 significant digits, never cut."""
    if isinstance(v, bool) or not isinstance(v, (int, float, Decimal)):
        return str(v)
    if isinstance(v, float):
        return format(v, ".6g")
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
