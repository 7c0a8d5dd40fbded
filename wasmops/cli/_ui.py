"""Console helpers shared by the CLI commands."""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=None)
def console():
    from rich.console import Console

    return Console()


@functools.lru_cache(maxsize=None)
def err_console():
    from rich.console import Console

    return Console(stderr=True)


def table(title: str, rows: list[dict], columns: list[str] | None = None):
    from rich.table import Table

    cols = columns or (list(rows[0].keys()) if rows else [])
    t = Table(title=title, title_justify="left")
    for c in cols:
        t.add_column(c)
    for r in rows:
        t.add_row(*[_fmt(r.get(c)) for c in cols])
    return t


def _fmt(v) -> str:
    if v is None:
        return "-"
    if v == "pass":
        return "[green]pass[/]"
    if v == "FAIL":
        return "[red]FAIL[/]"
    return str(v)


def settings():
    from ..config import Settings

    return Settings()
