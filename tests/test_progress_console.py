"""Where a command's Prefect log lines go (wasmops/cli/_progress.py): ``-v`` shows them in the terminal
even when the environment carries a quiet level (one inherited from a parent process once left a
``-v`` release with neither step lines nor Prefect's), and without ``-v`` a level the operator set is kept."""

from __future__ import annotations

import os

import pytest

from wasmops.cli._progress import quiet_prefect_console

LEVEL = "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"


@pytest.mark.parametrize("inherited", [None, "CRITICAL", "ERROR", "DEBUG"])
def test_verbose_always_shows_prefects_info_lines(monkeypatch, inherited):
    monkeypatch.setenv("WASMOPS_VERBOSE", "1")
    if inherited is None:
        monkeypatch.delenv(LEVEL, raising=False)
    else:
        monkeypatch.setenv(LEVEL, inherited)
    quiet_prefect_console()
    assert os.environ[LEVEL] == "INFO"


@pytest.mark.parametrize("inherited, expected", [(None, "CRITICAL"), ("WARNING", "WARNING")])
def test_without_verbose_the_console_is_quiet_unless_the_operator_chose_a_level(monkeypatch, inherited, expected):
    monkeypatch.delenv("WASMOPS_VERBOSE", raising=False)
    if inherited is None:
        monkeypatch.delenv(LEVEL, raising=False)
    else:
        monkeypatch.setenv(LEVEL, inherited)
    quiet_prefect_console()
    assert os.environ[LEVEL] == expected
