"""Emscripten's WASI output can be onboarded: its one import from outside WASI, the memory-growth
notification, is a no-op the host provides.

Found from outside (docs/decisions.md, "Strangers' modules, fourth round"): ``emcc -O2 -sSTANDALONE_WASM
-sALLOW_MEMORY_GROWTH`` (Debian's emscripten 3.1.6) gives a WASI command that also imports
``env.emscripten_notify_memory_growth``; `check`, `test` and a release refused it as "built for a host
that provides env ... running it would take that host (for an npm package, its JavaScript loader)".
The modules here are written for the test in that shape: WASI imports, the notification, a
``memory.grow`` by the number of pages in stdin's first byte, then a call to the notification.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st
from wasmtime import wat2wasm

from wasmops.errors import SandboxError
from wasmops.supply.policy import check_module
from wasmops.wasm.sandbox import RunLimits, Sandbox

NOTIFY = '(import "env" "emscripten_notify_memory_growth" (func $notify (param i32)))'


def emscripten_like(notify: str = NOTIFY, extra: str = "") -> bytes:
    return wat2wasm(f"""(module
      (import "wasi_snapshot_preview1" "fd_read" (func $r (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      {notify} {extra}
      (memory (export "memory") 1 64)
      (data (i32.const 16) "grew\\n")
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 1))
        (drop (call $r (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
        (if (i32.ne (memory.grow (i32.load8_u (i32.const 100))) (i32.const -1))
          (then (call $notify (i32.const 0))))
        (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 5))
        (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
      (export "__indirect_function_table" (table 0)) (table 0 funcref)
      (func (export "stackSave") (result i32) (i32.const 0)))""")


@pytest.fixture(scope="module")
def sb():
    s = Sandbox()
    yield s
    s.close()


def test_the_policy_allows_it_at_every_trust_level():
    for level in ("sandboxed", "standard", "trusted"):
        v = check_module(emscripten_like(), level, where="emwc.wasm")
        assert v.allowed, (level, v.reasons, v.hint)


@settings(max_examples=20, deadline=None)
@given(pages=st.integers(0, 63))
def test_it_runs_and_grows_its_memory(sb, pages):
    r = sb.run(sb.load(emscripten_like()), stdin=bytes([pages]), limits=RunLimits(memory=64 * 65536))
    assert r.ok and r.stdout == b"grew\n", r.message
    assert r.peak_memory == (1 + pages) * 65536


def test_another_env_import_beside_it_is_still_refused_as_built_for_another_host(sb):
    wasm = emscripten_like(extra='(import "env" "emscripten_memcpy_js" (func (param i32 i32 i32)))')
    v = check_module(wasm, "trusted", where="m.wasm")
    assert v.reasons == ["import env.emscripten_memcpy_js is outside the allowed modules "
                         "[wasi_snapshot_preview1, wasi_unstable]"]
    assert "built for a host that provides env (1 import)" in v.hint
    with pytest.raises(SandboxError, match="it imports from env"):
        sb.load(wasm)


def test_the_notification_with_another_signature_does_not_link(sb):
    with pytest.raises(SandboxError, match="cannot link"):
        sb.load(wat2wasm("""(module
          (import "env" "emscripten_notify_memory_growth" (func (param i64)))
          (memory (export "memory") 1) (func (export "_start")))"""))


def test_legacy_exception_instructions_are_named_with_the_ways_to_rebuild(sb):
    """em++ -fwasm-exceptions (3.1.6) emits the legacy try/catch, which wasmtime does not validate: the
    refusal said only "legacy_exceptions feature required for try instruction"."""
    from wasmops.errors import SpecError

    legacy = bytes.fromhex(                    # (no WAT parser here reads the legacy forms: the binary by hand)
        "0061736d01000000"                       # magic, version
        "010401600000"                           # type 0: [] -> []
        "03020100"                               # one function of type 0
        "0d03010000"                             # one tag of type 0
        "070a01065f73746172740000"               # export "_start" = function 0
        "0a0b010900064008000700" "0b0b")         # body: try (throw 0) catch 0 end end
    with pytest.raises(SpecError) as e:
        sb.load(legacy)
    said = str(e.value)
    assert "legacy exception-handling instructions" in said and "wasm-opt --translate-to-exnref" in said
    assert "-fno-exceptions" in said
    with pytest.raises(SpecError, match="legacy exception-handling instructions"):
        check_module(legacy, "trusted", where="m.wasm")           # `wasmops check`, preflight, admission


def test_emscripten_javascript_exceptions_are_named_as_such(sb):
    """em++ -fexceptions: C++ exceptions by JavaScript, 30 env imports (invoke_*, __cxa_find_matching_catch_*)."""
    wasm = emscripten_like(extra='(import "env" "invoke_vii" (func (param i32 i32 i32))) '
                                 '(import "env" "__cxa_find_matching_catch_2" (func (result i32)))')
    v = check_module(wasm, "trusted", where="m.wasm")
    assert "C++ exceptions or setjmp/longjmp are done by its JavaScript (3 env imports" in v.hint
    assert "-sSTANDALONE_WASM and without -fexceptions" in v.hint
    with pytest.raises(SandboxError) as e:
        sb.load(wasm)
    assert "done by its JavaScript" in e.value.hint
