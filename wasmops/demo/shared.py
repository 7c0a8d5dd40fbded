"""What the demo's steps share: the checkout they run in and the console they print to.

Below :mod:`wasmops.demo.run` and its step modules (``demo_ai``, ``demo_approvals``, ``demo_canary``):
the steps import these from here, never from ``demo``, which imports them.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

REPO = Path(__file__).resolve().parents[2]
con = Console()
