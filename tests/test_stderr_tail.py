"""A run's stderr keeps its end: a panic's message after more than 64 KiB of logging still reaches the case.

Found from outside (docs/decisions.md, "Strangers' modules, fourth round"): a module that logs on
stderr, then panics and exits 2, failed its own ``expect_stderr_contains: "panic: "`` case, and the
host's ``X-Wasmops-Stderr`` carried log lines: the stderr file was cut back to its first 64 KiB, and
every tail (the host's 2,048 bytes, the case's check, the table's last lines) was taken of that head.

The guests are written here: a WAT module that writes ``lines`` log lines of 64 bytes in writes of
``per_write`` lines each, then a message, then exits with a code.
"""

from __future__ import annotations

import contextlib
import os

import pytest
from hypothesis import given, settings, strategies as st
from wasmtime import wat2wasm

from wasmops.supply.source import ModuleSource, TestCase
from wasmops.supply.testrun import run_cases
from wasmops.wasm import _sandbox_io
from wasmops.wasm._sandbox_io import OutFile
from wasmops.wasm.sandbox import RunLimits, Sandbox

LINE = b"log line: a program that talks a lot on stderr, as real ones do.\n"   # 64 bytes
PANIC = b"panic: runtime error: index out of range [3] with length 0\n"


def chatty(lines: int, per_write: int, message: bytes = PANIC, code: int = 2) -> bytes:
    """``lines`` log lines on fd 2 (``per_write`` of them a write), then ``message``, then exit ``code``."""
    block = "".join(f"\\{b:02x}" for b in LINE) * per_write
    msg = "".join(f"\\{b:02x}" for b in message)
    start = 1024 + len(LINE) * per_write
    return wat2wasm(f"""(module
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 2)
      (data (i32.const 1024) "{block}")
      (data (i32.const {start}) "{msg}")
      (func $put (param $p i32) (param $n i32)
        (i32.store (i32.const 0) (local.get $p)) (i32.store (i32.const 4) (local.get $n))
        (drop (call $w (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8))))
      (func (export "_start") (local $left i32)
        (local.set $left (i32.const {lines}))
        (block $done (loop $l
          (br_if $done (i32.le_s (local.get $left) (i32.const 0)))
          (call $put (i32.const 1024) (i32.const {len(LINE) * per_write}))
          (local.set $left (i32.sub (local.get $left) (i32.const {per_write})))
          (br $l)))
        (call $put (i32.const {start}) (i32.const {len(message)}))
        (call $exit (i32.const {code}))))""")


@pytest.fixture(scope="module")
def sb():
    s = Sandbox()
    yield s
    s.close()


LIMITS = RunLimits(fuel=10**12, timeout_ms=60_000, memory=4 * 2**20)


@pytest.mark.parametrize("lines", [0, 10, 1024, 4096, 200_000])   # none, some, 64 KiB, 256 KiB, 12.8 MB
def test_a_panic_after_a_flood_of_logging_is_what_the_run_reports(sb, lines):
    r = sb.run(sb.load(chatty(lines, per_write=min(max(lines, 1), 512))), limits=LIMITS)
    assert r.exit_code == 2
    assert r.stderr.endswith(PANIC)
    assert len(r.stderr) <= 64 * 1024
    assert r.stderr == (LINE * lines + PANIC)[-len(r.stderr):]       # the end of what it wrote, byte for byte


def test_the_case_that_expects_the_panic_passes_in_wasmops_test():
    src = ModuleSource(name="m", language="wat", sources=["m.wat"], limits={"fuel": 10**10, "timeout_ms": 30_000},
                       tests=[TestCase(name="panics", expect_exit=2, expect_stderr_contains="panic: ")])
    report = run_cases(src, chatty(20_000, per_write=100))          # 1.28 MB of logging first
    assert report.passed, report.cases[0].reason


@contextlib.contextmanager
def _out_file(name: str, limit: int, keep_tail: bool = False):
    """``(OutFile, a writer)``: the writer is a descriptor with its own offset, as wasmtime's WASI
    file for stderr is (opened by path); both are closed and the file removed afterwards."""
    f = OutFile(name, limit, keep_tail=keep_tail)
    w = os.open(f.path, os.O_WRONLY)
    try:
        yield f, w
    finally:
        os.close(w)
        f.clear()
        os.close(f.fd)
        os.unlink(f.path)


@settings(max_examples=40, deadline=None)
@given(limit=st.integers(1, 70_000),
       writes=st.lists(st.tuples(st.integers(1, 50_000), st.booleans()), min_size=1, max_size=30))
def test_the_ticker_frees_the_head_and_the_last_limit_bytes_are_read_back(limit, writes):
    written = bytearray()
    with _out_file("tail-test", limit, keep_tail=True) as (f, w):
        for i, (n, tick) in enumerate(writes):
            chunk = bytes((i * 7 + k) % 251 for k in range(n))
            os.write(w, chunk)
            written += chunk
            if tick:                                  # the epoch ticker's check between two writes
                f.check()
                st_ = os.fstat(f.fd)
                assert st_.st_blocks * 512 <= limit + 2 * 4096 + n   # what is kept stays bounded
        assert f.read() == bytes(written[-limit:])
        assert f.overflow == (len(written) > limit)


def test_where_holes_cannot_be_punched_the_head_is_kept_as_before(monkeypatch):
    class NoPunch:
        @staticmethod
        def fallocate(*_args):
            return -1
    monkeypatch.setattr(_sandbox_io, "_libc", NoPunch)
    with _out_file("tail-test-nopunch", 100, keep_tail=True) as (f, w):
        os.write(w, b"a" * 10_000)
        f.check()                                     # truncated to the cap, as stdout is
        os.write(w, b"b" * 10)                        # lands past a hole, at the writer's offset
        assert f.read() == b"a" * 100 and f.overflow


def test_stdout_still_keeps_its_head():
    with _out_file("head-test", 100) as (f, w):
        os.write(w, b"a" * 100 + b"b" * 10_000)
        f.check()
        assert f.read() == b"a" * 100 and f.overflow
