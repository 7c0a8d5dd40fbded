"""`stdin_file`: a case's stdin as the bytes of a file (binary, NULs, large), the same in `wasmops
test` and through the host (a user could only write text stdin in module.yaml)."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings, strategies as st
from wasmtime import wat2wasm

from wasmops.errors import SpecError
from wasmops.supply.source import load_module_source
from wasmops.supply.testrun import run_cases

# exits with (first byte % 60) + (bytes read % 60): a NUL or any byte changed would show
WAT = """(module
  (import "wasi_snapshot_preview1" "fd_read" (func $r (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 4000))
    (drop (call $r (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $exit (i32.add (i32.rem_u (i32.load8_u (i32.const 100)) (i32.const 60))
                         (i32.rem_u (i32.load (i32.const 8)) (i32.const 60))))))"""


def _module(d, data: bytes, **case):
    (d / "m.wasm").write_bytes(wat2wasm(WAT))
    (d / "input.bin").write_bytes(data)
    code = data[0] % 60 + len(data) % 60
    doc = {"name": "bytes", "language": "prebuilt", "sources": ["m.wasm"],
           "tests": [{"name": "binary", "stdin_file": "input.bin", **({"expect_exit": code} if code else {}), **case}]}
    (d / "module.yaml").write_text(yaml.safe_dump(doc))
    return d


@settings(max_examples=25, deadline=None)
@given(data=st.binary(min_size=1, max_size=3000))
def test_a_binary_stdin_file_reaches_the_module_byte_for_byte(tmp_path_factory, data):
    src = load_module_source(_module(tmp_path_factory.mktemp("m"), data))
    assert src.tests[0].stdin_bytes == data
    assert run_cases(src, (src.root / "m.wasm").read_bytes()).passed


def test_a_missing_file_or_both_stdins_name_the_case(tmp_path):
    d = _module(tmp_path, b"\x00abc")
    (d / "input.bin").unlink()
    with pytest.raises(SpecError, match=r"tests.0.stdin_file: input.bin does not exist \(case binary\)"):
        load_module_source(d)
    _module(d, b"\x00abc", stdin="text")
    with pytest.raises(SpecError, match="stdin and stdin_file both given"):
        load_module_source(d)
