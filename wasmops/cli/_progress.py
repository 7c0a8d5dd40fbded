"""Step-by-step progress for commands that run a flow in this process.

Prefect's own log lines (engine messages, tracebacks) go to the Prefect API, where the UI shows
them; the terminal gets one line per finished step and the flow's own messages. ``wasmops -v``
shows Prefect's log lines in the terminal as well.
"""

from __future__ import annotations

import logging
import os
import re

_ENGINE = ("Beginning", "Finished in state", "Created task run", "Executing", "Encountered exception",
           "Running hook", "Running on_", "Process for flow run", "Received", "Hook", "Pausing", "Resuming",
           "Starting", "Downloading", "Opening", "Completed", "Crash detected")
_STATE = re.compile(r"Finished in state (\w+)")
_MARK = {"Completed": "[green]✓[/]", "Cached": "[blue]✓[/] (cached)", "Failed": "[red]✗[/]",
         "Crashed": "[red]✗[/]", "Cancelled": "[yellow]-[/]", "Paused": "[yellow]‖[/]",
         "AwaitingRetry": "[yellow]↻[/] retrying", "Retrying": "[yellow]↻[/]", "Rolled": "[yellow]↺[/]"}


def verbose() -> bool:
    from ..config import current

    return current().verbose


def quiet_prefect_console() -> None:
    """Before Prefect is imported: INFO logs reach the API (the UI's Logs tab); the terminal shows
    Prefect's console lines only with ``-v``."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    if verbose():   # `-v` asked for them: a quiet level inherited from the environment does not win
        os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "INFO"
    else:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    if not verbose():   # MLflow's first use of a store prints "Creating initial MLflow database tables..."
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


class StepProgress(logging.Handler):
    """Turns task-run state messages into ``✓ build`` lines; passes the flow's own messages through."""

    def __init__(self, printer):
        super().__init__(logging.INFO)
        self.printer = printer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
            if record.name == "prefect.task_runs":
                m = _STATE.match(msg)
                if m:
                    step = re.sub(r"-[0-9a-f]{3,}$", "", getattr(record, "task_run_name", "") or "step")
                    self.printer(f"  {_MARK.get(m.group(1), m.group(1))} {step}")
                elif getattr(record, "terminal", None) is True:   # a step's own word for the terminal
                    self.printer(f"  [dim]{msg.splitlines()[0]}[/]")
                return
            if not getattr(record, "terminal", True):
                return
            if msg.startswith("View at "):
                self.printer(f"  [dim]{msg}[/]")
            elif record.levelno >= logging.INFO and not msg.startswith(_ENGINE):
                self.printer(f"  {msg.splitlines()[0]}")
        except Exception:  # noqa: BLE001 - progress must never break a run
            pass


def attach(printer) -> None:
    """After Prefect has configured logging: run and task INFO logs flow (to the API, so the UI's
    Logs tab has them), and the progress handler prints steps (not with ``-v``)."""
    h = None if verbose() else StepProgress(printer)
    for name in ("prefect.task_runs", "prefect.flow_runs"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        if h:
            logger.addHandler(h)
