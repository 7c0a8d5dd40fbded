"""Helpers to load the WAT fixtures under tests/fixtures/."""

from pathlib import Path

import wasmtime

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def hostile(name: str) -> bytes:
    return wasmtime.wat2wasm((FIXTURES / "hostile" / f"{name}.wat").read_text())


def printing_wat(text: str) -> str:
    """A well-behaved module that prints ``text``; a different text gives a different digest."""
    data = text.replace('"', '\\"')
    return f"""(module (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{data}")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const {len(text)}))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""


def spinner_wat(n: int) -> str:
    """A module that counts to ``n`` (about 8 fuel a step), then prints ``ok``: a knob for work per request."""
    return f"""(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "ok")
  (func (export "_start") (local $i i32)
    (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const {n}))))
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 2))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""


def spin_module(d, n: int, name: str):
    """A ``language: wat`` module directory ``d`` running :func:`spinner_wat` (``n``), with one case
    that expects ``ok``; written again over ``d`` for a new version."""
    import yaml

    d.mkdir(parents=True, exist_ok=True)
    (d / "spin.wat").write_text(spinner_wat(n))
    (d / "module.yaml").write_text(yaml.safe_dump({
        "name": name, "language": "wat", "sources": ["spin.wat"],
        "limits": {"fuel": 50_000_000, "memory": "1Mi", "timeout_ms": 1000},
        "tests": [{"name": "says-ok", "stdin": "", "expect_stdout": "ok"}]}))
    return d
