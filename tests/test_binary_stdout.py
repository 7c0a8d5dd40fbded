"""A case can check binary output: a double-quoted YAML ``"\\x89PNG"`` matches the bytes it spells.

Found onboarding a binary-output module (npm's flite writes WAV; a PNG writer is the same shape): the
one judge compared stdout decoded as UTF-8 with replacement, so ``expect_stdout_contains: "\\x89PNG"``
(U+0089 P N G once YAML has read it) failed against output that starts with exactly those bytes
("stdout lacks '\\x89PNG'"), and so did any byte from 0x80 up. The host passes the bytes through as
they are; this checks that too, with the same judge. The module here is a ``cat`` written for the test."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st
from support.host import HostProcess, make_workspace
from wasmtime import wat2wasm

from wasmops.host.client import run_result
from wasmops.supply.source import TestCase, load_module_source
from wasmops.supply.testrun import judge, run_cases
from wasmops.wasm.sandbox import RunResult

CAT = '''(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "_start")
    (loop $l
      (i32.store (i32.const 0) (i32.const 1024)) (i32.store (i32.const 4) (i32.const 65536))
      (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (if (i32.eqz (i32.load (i32.const 8))) (then (return)))
      (i32.store (i32.const 4) (i32.load (i32.const 8)))
      (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12)))
      (br $l))))'''
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\xff\xfe"


def _run(stdout: bytes) -> RunResult:
    return RunResult(exit_code=0, stdout=stdout, stderr=b"", fuel_used=1, peak_memory=1, duration_s=0.001)


def test_module_yaml_escapes_match_the_bytes_of_a_binary_stdout(tmp_path):
    (tmp_path / "cat.wat").write_text(CAT)
    (tmp_path / "in.png").write_bytes(PNG)
    (tmp_path / "module.yaml").write_text(
        'name: png\nlanguage: wat\nsources: [cat.wat]\ntests:\n'
        '  - {name: magic, stdin_file: in.png, expect_stdout_contains: "\\x89PNG\\r\\n\\x1A\\n"}\n'
        '  - {name: tail, stdin_file: in.png, expect_stdout_contains: "\\xFF\\xFE"}\n'
        '  - {name: whole, stdin_file: in.png, expect_stdout: "\\x89PNG\\r\\n\\x1A\\n\\0\\0\\0\\rIHDR\\0\\0\\0\\x01\\xFF\\xFE"}\n'
        '  - {name: gif, stdin_file: in.png, expect_stdout_contains: "\\x89GIF"}\n'
        '  - {name: text, stdin: "café ☕", expect_stdout_contains: "é ☕"}\n')
    report = run_cases(load_module_source(tmp_path), wat2wasm(CAT))
    got = {c.name: c for c in report.cases}
    assert [n for n, c in got.items() if c.passed] == ["magic", "tail", "whole", "text"]
    assert got["gif"].reason == ("stdout lacks '\\x89GIF' (stdout is 22 bytes, not UTF-8 text; it starts "
                                 "89 50 4e 47 0d 0a 1a 0a 00 00 00 0d 49 48 44 52)")


@settings(max_examples=60, deadline=None)
@given(data=st.binary(min_size=1, max_size=200), cut=st.tuples(st.integers(0, 200), st.integers(1, 40)))
def test_any_slice_of_binary_output_spelled_one_byte_a_character_is_found(data, cut):
    start = cut[0] % len(data)
    part = data[start:start + cut[1]]
    spelled = part.decode("latin-1")
    assert judge(TestCase(name="c", expect_stdout_contains=spelled), _run(data)).passed
    assert judge(TestCase(name="c", expect_stdout=data.decode("latin-1")), _run(data)).passed
    flipped = bytes([part[0] ^ 0x80]) + part[1:]          # one high bit changed: absent, so not found
    if flipped not in data:
        assert not judge(TestCase(name="c", expect_stdout_contains=flipped.decode("latin-1")), _run(data)).passed


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    ws = make_workspace(tmp_path_factory.mktemp("ws"))
    hp = HostProcess(ws)
    client = hp.start("--workers", "1")
    ref, digest = ws.publish_wat("cat", CAT)
    client.deploy("dev", "cat", ref=ref, digest=digest, limits={"fuel": 10_000_000, "memory": "1Mi",
                                                                "timeout_ms": 2000, "max_stdout": 2**20})
    yield client
    hp.stop()


@settings(max_examples=20, deadline=None)
@given(body=st.binary(min_size=0, max_size=300_000))
def test_the_host_passes_binary_stdout_through_byte_for_byte(served, body):
    r = served.run("dev", "cat", body)
    assert (r.status_code, r.headers["content-type"], r.content) == (200, "application/octet-stream", body)
    case = TestCase(name="png", expect_stdout_contains="\x89PNG")
    assert judge(case, run_result(served.run("dev", "cat", body + PNG))).passed
