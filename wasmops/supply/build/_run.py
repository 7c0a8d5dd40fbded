"""Running a compiler: timeout, heartbeat progress, and turning its output into BuildFailed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from wasmops.errors import BuildFailed, ToolchainMissing
from wasmops.supply.build._toolchain import BuildContext

MAX_LINES = 40
MAX_CHARS = 4000

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# "greet.c:12:5: error: ..." (clang, zig) and " --> <anon>:3:5" (wat2wasm, handled in wat.py)
_LOCATION = re.compile(r"^(?P<file>[^\s:][^:\n]*):(?P<line>\d+):(?P<col>\d+): (?:fatal )?error", re.M)


def trim_diagnostics(text: str, root: Path | None = None) -> str:
    """Compiler output made short and path-neutral: no colours, paths relative to the module."""
    text = _ANSI.sub("", text)
    if root is not None:
        text = text.replace(str(root) + os.sep, "")
    lines = [ln.rstrip() for ln in text.strip().splitlines()]
    more = len(lines) - MAX_LINES
    text = "\n".join(lines[:MAX_LINES])
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS] + " ..."
    if more > 0:
        text += f"\n... ({more} more lines)"
    return text


def error_location(text: str, root: Path, default: Path) -> str:
    """``/abs/module/file.c:LINE:COL`` of the first error in compiler output, else ``default``."""
    m = _LOCATION.search(_ANSI.sub("", text))
    if not m:
        return str(default)
    f = Path(m.group("file"))
    return f"{f if f.is_absolute() else root / f}:{m.group('line')}:{m.group('col')}"


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def run_tool(argv: list[str], *, cwd: Path, ctx: BuildContext, label: str, where: Path) -> str:
    """Run ``argv`` in ``cwd``; returns its output. Raises BuildFailed on non-zero exit or timeout.

    The compiler runs in its own process group, so a timeout kills it and anything it started.
    While it runs, ``ctx.progress`` hears from us every ``ctx.heartbeat_s`` seconds.
    """
    start = time.monotonic()
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=ctx.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
    except FileNotFoundError as exc:
        raise ToolchainMissing(f"{label}: {argv[0]} not found", where=str(where)) from exc
    out = b""
    while True:
        elapsed = time.monotonic() - start
        left = ctx.timeout_s - elapsed
        if left <= 0:
            _kill(proc)
            out, _ = proc.communicate()
            raise BuildFailed(f"{label} did not finish within {ctx.timeout_s:g} s and was stopped"
                              + (f":\n{trim_diagnostics(out.decode(errors='replace'), cwd)}" if out.strip() else ""),
                              where=str(where), hint="a first build compiles the C library (about a minute); "
                              "otherwise look for a compiler hang or a huge source")
        try:
            out, _ = proc.communicate(timeout=min(left, ctx.heartbeat_s))
            break
        except subprocess.TimeoutExpired:
            if time.monotonic() - start < ctx.timeout_s:
                ctx.say(f"still running {label} ({time.monotonic() - start:.0f} s)")
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise BuildFailed(f"{label} rejected the source (exit {proc.returncode}):\n{trim_diagnostics(text, cwd)}",
                          where=error_location(text, cwd, where), hint="fix the source and build again")
    return text
