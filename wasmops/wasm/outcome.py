"""How a run ended: the reasons (``REASON_*``: test tables, host error responses, metrics labels)
and the one-line messages people read, from what wasmtime reports (used by ``wasmops.wasm.sandbox``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import wasmtime

WASM_PAGE = 65536

# Reasons a run can fail, used in test tables, host error responses and metrics labels.
REASON_FUEL = "out_of_fuel"
REASON_TIMEOUT = "timeout"
REASON_STACK = "stack_overflow"
REASON_MEMORY = "memory_limit"
REASON_STDOUT = "stdout_limit"
REASON_EXIT = "exit_nonzero"
#: Bytes of a failed run's stderr that travel with its result (the host's ``X-Wasmops-Stderr``).
STDERR_TAIL = 2048
REASON_TRAP = "trap"
REASON_LINK = "link_error"


@dataclass(frozen=True)
class RunLimits:
    """Limits for one run. ``memory`` and ``max_stdout`` are bytes."""

    fuel: int = 50_000_000
    memory: int = 16 * 2**20
    timeout_ms: int = 2000
    max_stdout: int = 2**20
    #: Exit codes besides 0 that mean success (a SAT solver's 10 and 20, grep's 1): such a run is
    #: ``ok``, not an error, and is not run again to look for a refused ``memory.grow``.
    ok_exits: tuple[int, ...] = ()


@dataclass
class RunResult:
    """What one run did. ``reason`` is None on success (exit code 0)."""

    exit_code: int | None
    stdout: bytes
    stderr: bytes
    fuel_used: int
    peak_memory: int
    duration_s: float
    reason: str | None = None
    message: str = ""
    cpu_s: float = 0.0             # CPU time of the thread that ran the module
    fuel_estimated: bool = False   # True when fuel was derived from CPU time (timeouts: see _bill_timeout)

    @property
    def ok(self) -> bool:
        """Success: exit 0, or an exit code the deployment lists as success (``RunLimits.ok_exits``)."""
        return self.reason is None and self.exit_code is not None


def classify(reason, message, exit_code, peak, limits, overflow: bool, no_instance: bool):
    """The run's reason and message from how it ended (see the REASON_* names)."""
    if overflow:
        return REASON_STDOUT, f"stdout exceeded {limits.max_stdout} bytes"
    if reason is None and exit_code not in (0, None):
        return REASON_EXIT, f"exited with code {exit_code}"
    if no_instance and reason == REASON_TRAP and "memory" in message and "limit" in message.lower():
        m = re.search(r"minimum size of (\d+) pages", message)
        if m:
            need = int(m.group(1)) * WASM_PAGE
            return REASON_MEMORY, (f"the module's initial memory ({need} bytes, {need / 2**20:.3g} MiB) exceeds the "
                                   f"memory limit of {limits.memory} bytes: raise the limit to at least that (module.yaml "
                                   f"limits.memory for `wasmops test`; a deployment's is its manifest's "
                                   f"spec.runtimeConfig.resources.memory)")
        return REASON_MEMORY, message
    if reason == REASON_TIMEOUT and limits.timeout_ms:
        return REASON_TIMEOUT, (f"wall-clock deadline exceeded: the run took more than its limit of {limits.timeout_ms} ms "
                                "(module.yaml limits.timeout_ms for `wasmops test`; a deployment's is its manifest's "
                                "spec.runtimeConfig.timeoutMs, up to its trust level's maxTimeoutMs)")
    if reason == REASON_FUEL and limits.fuel:
        return REASON_FUEL, (f"fuel exhausted: the run needed more than its limit of {limits.fuel} (module.yaml "
                             "limits.fuel for `wasmops test`; a deployment's is its manifest's "
                             "spec.runtimeConfig.resources.cpu, in millicores of 10^6 fuel)")
    return reason, message


_FRAME = re.compile(r"^\s*\d+:\s+0x[0-9a-f]+ - (?:[^!]*!)?(.+?)\s*$")
_RUST_HASH = re.compile(r"::h[0-9a-f]{16}$")


def trap_reason(exc: wasmtime.Trap) -> tuple[str, str]:
    """The run's reason and a one-line message: wasmtime's cause (its last line, e.g. "wasm
    `unreachable` instruction executed"), the innermost named frame, and what that frame usually
    means (a Rust panic, ``abort()``): the module's stderr then says why."""
    code = exc.trap_code
    if code == wasmtime.TrapCode.OUT_OF_FUEL:
        return REASON_FUEL, "fuel exhausted"
    if code == wasmtime.TrapCode.INTERRUPT:
        return REASON_TIMEOUT, "wall-clock deadline exceeded"
    if code == wasmtime.TrapCode.STACK_OVERFLOW:
        return REASON_STACK, "call stack exhausted"
    return REASON_TRAP, trap_message(str(exc.message if hasattr(exc, "message") else exc),
                                     code.name.lower() if code is not None else "unknown")


def trap_message(text: str, code: str = "unknown") -> str:
    """One line from wasmtime's multi-line trap text (see :func:`_trap_reason`), at most 300 chars.

    >>> trap_message("error while executing at wasm backtrace:\\n    0:  0xdfd8 - <unknown>!abort\\n"
    ...              "    1:  0x10 - <unknown>!main\\n\\nCaused by:\\n    wasm trap: wasm `unreachable` instruction executed")
    'wasm `unreachable` instruction executed in abort (abort() was called)'
    """
    lines = [ln for ln in text.splitlines() if ln.strip()]
    frames = [_RUST_HASH.sub("", m.group(1)) for ln in lines if (m := _FRAME.match(ln))]
    named = [f for f in frames if f and f != "<unknown>" and not f.startswith("<wasm function")]
    prose = [ln.strip() for ln in lines if not _FRAME.match(ln) and not ln.strip().startswith(("note:", "Caused by:"))
             and not ln.strip().endswith("wasm backtrace:")]
    traps = [ln.removeprefix("wasm trap: ") for ln in prose if ln.startswith("wasm trap:")]
    msg = (traps or prose or [f"wasm trap: {code}"])[-1]
    if named:
        msg += f" in {named[0]}"
    if any("rust_panic" in f or "rust_begin_unwind" in f for f in named[:6]):
        msg += " (a Rust panic: its message is on stderr)"
    elif named and named[0] in ("abort", "__abort", "std::process::abort", "__cxa_pure_virtual"):
        msg += " (abort() was called)"
    elif "invalid exit status" in msg:
        msg += ": the module called proc_exit with a status WASI cannot carry (AssemblyScript's abort does)"
    return msg[:300]
