"""Small modules the demo (and tests) build on the fly."""


def worker_wat(loops: int, tag: str = "") -> str:
    """Reads stdin, spins ``loops`` times, writes {"ok": true}: fuel per call follows ``loops``.
    ``tag`` changes the binary (a name section) without changing behaviour: a rebuild with no change."""
    name = f" ${tag}" if tag else ""
    return f"""
(module{name}
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{{\\"ok\\": true}}")
  (func (export "_start")
    (local $i i32) (local $acc i32)
    (i32.store (i32.const 0) (i32.const 1024)) (i32.store (i32.const 4) (i32.const 4096))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (block $done (loop $spin
      (br_if $done (i32.ge_u (local.get $i) (i32.const {loops})))
      (local.set $acc (i32.add (local.get $acc) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $spin)))
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 12))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"""


def worker_module(directory, name: str, loops: int, tag: str):
    """Write a module directory (module.yaml + w.wat) for :func:`worker_wat`."""
    from pathlib import Path

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / "w.wat").write_text(worker_wat(loops, tag))
    (d / "module.yaml").write_text(f"name: {name}\nlanguage: wat\nsources: [w.wat]\n"
                                   "limits: {fuel: 50000000, memory: 2Mi, timeout_ms: 1000}\n"
                                   "tests:\n  - {name: ok, stdin: '{}', expect_stdout_contains: 'ok'}\n")
    return d
