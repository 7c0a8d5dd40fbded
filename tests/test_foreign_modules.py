"""Modules built for another host, as npm ships them, are refused at once saying what they are and what
running them would take.

Found onboarding npm packages: napi-rs's ``@node-rs/crc32-wasm32-wasi`` and ``argon2`` (Node-API addons
importing ``env.napi_*``, ``wasi.thread-spawn`` and a shared ``env.memory``) were refused as "not a valid
wasm module: the module uses shared memory", which is neither true (they validate with threads on) nor
says what they are; ``@ruby/3.3-wasm-wasi``'s ruby.wasm (a reactor importing 21 functions from
``rb-js-abi-host``, which only its JavaScript loader provides) got 25 lines, one per import, and no word
that no trust level would help. The modules here are written for the test in the same shapes."""

from __future__ import annotations

import time

import pytest
from support.host import HostProcess, make_workspace
from wasmtime import wat2wasm

from wasmops.errors import BuildFailed, SandboxError, SpecError, UserError
from wasmops.supply.build._validate import validate_wasm
from wasmops.supply.policy import check_module
from wasmops.wasm.sandbox import Sandbox


def _addon(threads: bool = True, napi: int = 5) -> bytes:
    imports = "".join(f'(import "env" "napi_fn_{i}" (func (param i32) (result i32)))' for i in range(napi))
    mem = '(import "env" "memory" (memory 2 16 shared))' if threads else '(memory (export "memory") 2)'
    spawn = '(import "wasi" "thread-spawn" (func (param i32) (result i32)))' if threads else ""
    start = '(func (export "wasi_thread_start") (param i32 i32))' if threads else ""
    return wat2wasm(f'''(module {imports} {spawn}
      (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))) {mem}
      (func (export "napi_register_wasm_v1") (param i32 i32) (result i32) (local.get 1))
      {start} (func (export "_initialize")))''')


def _js_hosted(n: int = 7) -> bytes:
    imports = "".join(f'(import "my-js-host" "call-{i}: func(x: u32) -> u32" (func (param i32) (result i32)))'
                      for i in range(n))
    return wat2wasm(f'''(module {imports} (import "canonical_abi" "resource_new" (func (param i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1) (func (export "_initialize")) (func (export "eval")))''')


def test_a_threaded_napi_addon_is_named_everywhere_with_what_it_would_take():
    wasm = _addon()
    with pytest.raises(SpecError) as e:
        check_module(wasm, "trusted", where="crc32.wasm")
    msg = str(e.value)
    assert msg.startswith("crc32.wasm: a module the host cannot run: it uses shared memory")
    assert "not a valid" not in msg
    hint = e.value.hint
    for said in ("Node-API addon", "5 napi imports", "napi_register_wasm_v1", "wasi.thread-spawn",
                 "a shared memory", "exports _initialize, no _start", "Node.js", "wasi-threads",
                 "no trust level or setting changes that"):
        assert said in hint, said
    with pytest.raises(BuildFailed) as b:
        validate_wasm(wasm, where="crc32.wasm")
    assert b.value.hint == hint and "not a valid" not in b.value.message
    with pytest.raises(SpecError) as s:
        Sandbox().load(wasm, where="crc32")
    assert s.value.hint == hint


def test_an_addon_without_threads_is_still_named_by_the_policy():
    v = check_module(_addon(threads=False, napi=30), "trusted", where="addon.wasm")
    assert not v.allowed
    assert v.reasons[0].startswith("30 imports from env (napi_fn_0, napi_fn_1, napi_fn_2, …) are outside")
    assert "Node-API addon" in v.hint and "wasi-threads" not in v.hint


def test_a_module_for_a_javascript_host_gets_one_line_per_import_module_and_says_so():
    v = check_module(_js_hosted(), "trusted", where="ruby.wasm")
    assert v.reasons[0] == ("7 imports from my-js-host (call-0, call-1, call-2, …) are outside the allowed modules "
                            "[wasi_snapshot_preview1, wasi_unstable]")
    assert v.reasons[1].startswith("import canonical_abi.resource_new is outside")
    assert len(v.reasons) == 3            # and the missing _start
    assert "built for a host that provides my-js-host (7 imports) and canonical_abi (1 import)" in v.hint
    assert "a reactor (exports _initialize, no _start)" in v.hint
    few = check_module(_js_hosted(3), "trusted", where="m.wasm")
    assert [r.split(" is ")[0] for r in few.reasons[:3]] == [
        "import my-js-host.call-0: func(x: u32) -> u32", "import my-js-host.call-1: func(x: u32) -> u32",
        "import my-js-host.call-2: func(x: u32) -> u32"]


def test_a_wasi_command_gets_no_such_description():
    cmd = wat2wasm('(module (import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 '
                   'i32 i32) (result i32))) (memory (export "memory") 1) (func (export "_start")))')
    v = check_module(cmd, "sandboxed", where="m.wasm")
    assert not v.allowed and v.foreign is None and "trust level standard" in v.hint


@pytest.mark.parametrize("memory_import", ['(import "env" "memory" (memory 2))', '(import "js" "mem" (memory 1 4))'])
def test_a_wasi_command_that_imports_its_memory_is_told_which_flag_did_that(memory_import):
    """Found from outside (fourth round): clang's -Wl,--import-memory and asc's --importMemory make an
    otherwise plain WASI command import ``env.memory``; it was described as "built for a host that
    provides env ... running it would take that host (for an npm package, its JavaScript loader)"."""
    cmd = wat2wasm(f'(module {memory_import} (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) '
                   '(result i32))) (func (export "_start")))')
    said = memory_import.split('"')[1] + "." + memory_import.split('"')[3]
    v = check_module(cmd, "trusted", where="m.wasm")
    assert not v.allowed and f"imports its linear memory ({said})" in v.hint and "--import-memory" in v.hint
    with pytest.raises(SandboxError) as e:
        Sandbox().load(cmd)
    assert "--importMemory" in e.value.hint and "JavaScript loader" not in e.value.hint
    # a memory beside other imports from the same host, or without _start, is what it was
    other = wat2wasm(f'(module {memory_import} (import "env" "log" (func)) (func (export "_start")))')
    assert "built for a host that provides" in check_module(other, "trusted", where="m.wasm").hint
    reactor = wat2wasm(f'(module {memory_import} (func (export "_initialize")))')
    assert "--import-memory" not in check_module(reactor, "trusted", where="m.wasm").hint


def test_the_host_refuses_a_threaded_addon_at_once_and_says_what_it_is(tmp_path):
    ws = make_workspace(tmp_path / "ws")
    hp = HostProcess(ws)
    client = hp.start("--workers", "1")
    try:
        ref, digest = ws.publish_wasm("crc32", _addon())
        t0 = time.monotonic()
        with pytest.raises(UserError) as e:
            client.deploy("dev", "crc32", ref=ref, digest=digest, trust_level="trusted",
                          limits={"fuel": 1_000_000, "memory": "16Mi", "timeout_ms": 1000})
        took = time.monotonic() - t0
        assert "a module the host cannot run: it uses shared memory" in str(e.value)
        assert "Node-API addon" in e.value.hint and "wasi-threads" in e.value.hint
        assert took < 30, took                        # at once, never the 900 s deploy wait
        assert client.modules() == []
    finally:
        hp.stop()


def _counting_sandbox() -> Sandbox:
    sb = Sandbox()
    sb.compiled_bytes = []
    plain = sb.compile
    sb.compile = lambda wasm, *a, **k: (sb.compiled_bytes.append(len(wasm)), plain(wasm, *a, **k))[1]
    return sb


@pytest.mark.parametrize("wasm, says", [
    (_js_hosted(), "ruby: cannot link module: it imports from canonical_abi, my-js-host, which the host does not provide"),
    (_addon(threads=False), "ruby: cannot link module: it imports from env"),
    (wat2wasm('(module (memory (export "memory") 1) (func (export "_initialize")) (func (export "eval")))'),
     "ruby: the module has no _start export, so it is not a WASI command (it exports _initialize")])
def test_the_test_sandbox_refuses_what_it_could_never_link_or_start_before_compiling_it(tmp_path, wasm, says):
    """npm's ruby.wasm (36 MB) compiled for 50 s in `wasmops test` before "cannot link module", which
    named its digest and hinted to build it for WASI (it is WASI, for a JavaScript host)."""
    from wasmops.errors import SandboxError
    from wasmops.supply.source import load_module_source
    from wasmops.supply.testrun import run_cases

    (tmp_path / "m.wasm").write_bytes(wasm)
    (tmp_path / "module.yaml").write_text("name: ruby\nlanguage: prebuilt\nsources: [m.wasm]\n"
                                          "tests: [{name: c, stdin: 'puts 1', expect_stdout: '1'}]\n")
    sb, notices = _counting_sandbox(), []
    with pytest.raises(SandboxError) as e:
        run_cases(load_module_source(tmp_path), wasm, sandbox=sb, progress=notices.append)
    assert str(e.value).startswith(says)
    assert sb.compiled_bytes == [] and notices == []
    assert e.value.hint
