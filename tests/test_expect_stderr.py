"""``expect_stderr_contains``: tell a Go panic (exit 2, "panic: ..." on stderr) from ``os.Exit(2)``.

The guests are written here: a WAT module that writes a payload drawn by hypothesis to fd 2 and
exits with a drawn code. The case must judge the same in the sandbox and through the host's wire
format (``X-Wasmops-Stderr`` carries the last 2,048 bytes)."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given, settings, strategies as st
from wasmtime import wat2wasm

from wasmops.errors import SpecError
from wasmops.host.client import run_result
from wasmops.host.server import run_status_headers
from wasmops.supply.source import ModuleSource, TestCase
from wasmops.supply.testrun import judge, run_cases
from wasmops.wasm.outcome import STDERR_TAIL


def _guest(stderr: bytes, code: int) -> bytes:
    data = "".join(f"\\{b:02x}" for b in stderr)
    return wat2wasm(f"""(module
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (data (i32.const 64) "{data}")
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const {len(stderr)}))
        (drop (call $w (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
        (call $exit (i32.const {code}))))""")


def _src(case: TestCase) -> ModuleSource:
    return ModuleSource(name="m", language="wat", sources=["m.wat"], tests=[case],
                        limits={"fuel": 10**7, "timeout_ms": 2000})


def test_a_go_style_panic_is_told_from_a_plain_exit_2():
    panic = _guest(b"panic: runtime error: index out of range [3] with length 0\n\ngoroutine 1 [running]:\n", 2)
    plain = _guest(b"", 2)
    case = TestCase(name="panics", expect_exit=2, expect_stderr_contains="panic: runtime error")
    assert run_cases(_src(case), panic).passed
    report = run_cases(_src(case), plain)
    assert not report.passed
    assert report.cases[0].reason == "stderr lacks 'panic: runtime error' (stderr is empty)"


words = st.text(alphabet="abcdefgh \n:", min_size=1, max_size=12)


@settings(max_examples=25, deadline=None)
@given(payload=st.binary(min_size=0, max_size=5000).map(lambda b: bytes(32 + x % 90 for x in b)),
       needle=words, code=st.integers(1, 125), plant=st.booleans())
def test_the_case_judges_the_same_in_the_sandbox_and_through_the_host(payload, needle, code, plant):
    if plant:
        payload = payload + needle.encode()
    case = TestCase(name="c", expect_exit=code, expect_stderr_contains=needle)
    sandboxed = run_cases(_src(case), _guest(payload, code)).cases[0]
    assert sandboxed.passed == (needle.encode() in payload[-STDERR_TAIL:])
    # the same run, through the host's response shape and the client that reads it back
    from wasmops.wasm.sandbox import RunResult
    r = RunResult(exit_code=code, stdout=b"", stderr=payload, fuel_used=1, peak_memory=65536, duration_s=0.001,
                  reason="exit_nonzero", message=f"exited with code {code}")
    status, headers = run_status_headers("sha256:" + "0" * 64, r)
    wire = httpx.Response(status, headers=[(k.decode(), v.decode()) for k, v in headers], content=b"")
    assert judge(case, run_result(wire)).passed == sandboxed.passed


def test_a_successful_case_cannot_expect_stderr():
    with pytest.raises(ValueError, match="expect_stderr_contains needs a failing run"):
        TestCase(name="ok", expect_stderr_contains="warning")
    assert TestCase(name="trap", expect_error="trap", expect_stderr_contains="panicked at").expect_error == "trap"


def test_module_yaml_error_names_the_case_and_field(tmp_path):
    from wasmops.supply.source import load_module_source
    (tmp_path / "module.yaml").write_text("name: m\nlanguage: wat\nsources: [m.wat]\n"
                                          "tests:\n  - name: quiet\n    expect_stderr_contains: oops\n")
    with pytest.raises(SpecError) as e:
        load_module_source(tmp_path)
    assert "tests.0" in str(e.value) or "quiet" in str(e.value)
    assert "expect_stderr_contains needs a failing run" in str(e.value)
