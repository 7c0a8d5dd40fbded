"""What a module built for another host is, read off its imports and exports, and what running it
would take: the way forward a refusal gives when no trust level or setting would help.

npm ships such modules as WASI: napi-rs's ``*-wasm32-wasi`` packages are Node-API addons that import
``env.napi_*`` and ``wasi.thread-spawn`` and a shared memory, and ``@ruby/3.3-wasm-wasi`` is a reactor
importing ``rb-js-abi-host``, which only its JavaScript loader provides. The host refused them only
as "not a valid wasm module: ... shared memory" or with one line per import (25 for ruby), which says
neither what the module is nor that nothing here can run it::

    >>> from wasmtime import wat2wasm
    >>> from wasmops.wasm.interface import module_interface
    >>> addon = wat2wasm('(module (import "env" "napi_create_string_utf8" (func)) '
    ...                  '(import "wasi" "thread-spawn" (func (param i32) (result i32))) '
    ...                  '(func (export "napi_register_wasm_v1")) (func (export "_initialize")))')
    >>> print(describe(module_interface(addon)))  # doctest: +ELLIPSIS
    it is a Node-API addon (napi-rs/emnapi: 1 napi import, exports napi_register_wasm_v1), multi-threaded \
(wasi-threads: imports wasi.thread-spawn), and a reactor (exports _initialize, no _start): ...
    >>> describe(module_interface(wat2wasm('(module (func (export "_start")))'))) is None
    True
"""

from __future__ import annotations

from collections import Counter

from wasmops.errors import SandboxError
from wasmops.wasm.interface import Interface, module_interface
from wasmops.wasm.shape import _leb
from wasmops.wasm.shims import is_shim

WASI_MODULES = ("wasi_snapshot_preview1", "wasi_unstable")
_NAPI_PREFIXES = ("napi_", "emnapi_", "_emnapi_")
_NAPI_EXPORTS = ("napi_register_wasm_v1", "napi_register_module_v1")
_THREAD_SPAWN = "wasi.thread-spawn"
COMMAND = ("the host runs single-threaded WASI preview 1 commands (a _start that reads the request on stdin and "
           "writes the answer on stdout) and WASI 0.2 command components (exporting wasi:cli/run), and no trust "
           "level or setting changes that")


_WASI_HINT = ("build it for WASI (Go GOOS=wasip1, Rust --target wasm32-wasi or wasm32-wasip1, AssemblyScript with "
              "@assemblyscript/wasi-shim, C/C++ against wasi-libc)")
_COMMAND_HINT = ("build it as a command with a main function (for clang, without -mexec-model=reactor; for Rust, a "
                 "[[bin]] crate, not a cdylib)")


def refuse_early(wasm: bytes, where: str | None) -> None:
    """A SandboxError naming ``where``, before any compile, for a module the sandbox could never link or
    start: imports from outside WASI, or no ``_start``. The compile came first, and a large module's
    takes long: npm's ruby.wasm (36 MB, imports rb-js-abi-host) compiled for 50 s before `wasmops test`
    said "cannot link module", naming its digest, with a hint to build it for WASI, which it is. A
    binary the reader here does not know, or one with shared memory (validation names that at once),
    is left to the compile."""
    try:
        iface = module_interface(wasm) if _well_formed(wasm) else None
    except (IndexError, ValueError):
        iface = None
    if iface is None or iface.shared_memory:
        return
    outside = sorted({i.split(".", 1)[0] for i in iface.imports if not is_shim(i)} - set(WASI_MODULES))
    if outside:
        raise SandboxError(f"cannot link module: it imports from {', '.join(outside)}, which the host does not "
                           "provide (it provides WASI preview 1 to a core module)", where=where, hint=describe(iface) or _WASI_HINT)
    if "_start" not in iface.exports:
        reactor = "_initialize" in iface.exports
        raise SandboxError("the module has no _start export, so it is not a WASI command"
                           + (" (it exports _initialize: a WASI reactor, a library)" if reactor else ""),
                           where=where, hint=describe(iface) or _COMMAND_HINT)


def _well_formed(wasm: bytes) -> bool:
    """A core module's header, then sections of known ids that end where the file does (what is not
    is left to the compile, which says why it is not valid)."""
    if wasm[:8] != b"\0asm\x01\0\0\0":
        return False
    pos = 8
    try:
        while pos < len(wasm):
            if wasm[pos] > 13:
                return False
            size, pos = _leb(wasm, pos + 1)
            pos += size
    except (IndexError, ValueError):
        return False
    return pos == len(wasm)


def describe_wasm(wasm: bytes) -> str | None:
    """:func:`describe` of a binary that may not have validated (shared memory does not); None when
    it cannot be read."""
    try:
        return describe(module_interface(wasm))
    except (IndexError, ValueError):
        return None


def describe(iface: Interface) -> str | None:
    """What ``iface`` is when it was built for another host (a Node-API addon, threads, imports only a
    JavaScript loader provides), and what running it would take; None for anything else (a WASI
    command, or a plain reactor, which the missing ``_start`` already names)."""
    napi = _napi_imports(iface)
    threads = _threads(iface)
    others = _other_import_modules(iface, napi)
    if not (napi or threads or others):
        return None
    if not (napi or threads) and sum(others.values()) == len(iface.memory_imports) and "_start" in iface.exports:
        return _imported_memory(iface)
    if not (napi or threads) and any(i.startswith(_EMSCRIPTEN_JS_EH) for i in iface.imports):
        return _emscripten_js_exceptions(iface)
    what, needs = [], []
    if napi or any(e in iface.exports for e in _NAPI_EXPORTS):
        exported = [e for e in _NAPI_EXPORTS if e in iface.exports]
        what.append(f"a Node-API addon (napi-rs/emnapi: {_count(len(napi), 'napi import')}"
                    + (f", exports {exported[0]})" if exported else ")"))
        needs.append("Node.js with its JavaScript loader (the package's *.wasi.cjs and @napi-rs/wasm-runtime)")
    if others:
        mods = " and ".join(f"{m} ({_count(n, 'import')})" for m, n in others.most_common(4))
        what.append(f"built for a host that provides {mods}")
        needs.append("that host (for an npm package, its JavaScript loader)")
    if threads:
        what.append(f"multi-threaded (wasi-threads: {threads})")
        needs.append("a runtime with wasi-threads")
    if "_start" not in iface.exports:
        what.append("a reactor (exports _initialize, no _start)" if "_initialize" in iface.exports
                    else "a library (no _start)")
    said = ", ".join(what[:-1]) + (", and " if len(what) > 1 else "") + what[-1]
    return (f"it is {said}: running it would take {' and '.join(needs)}; {COMMAND}. To serve this code here, "
            "build a WASI command from the same sources (for Rust, a [[bin]] for wasm32-wasip1 that reads stdin)")


def _imported_memory(iface: Interface) -> str:
    """A WASI command but for its memory, which it imports instead of defining: a linker flag."""
    mems = ", ".join(iface.memory_imports)
    return (f"it is a WASI command that imports its linear memory ({mems}) instead of defining and exporting it, "
            "as a WASI host expects: build it without the flag that does that (clang/wasm-ld -Wl,--import-memory, "
            "AssemblyScript --importMemory, Emscripten -sIMPORTED_MEMORY); nothing else needs to change")


_EMSCRIPTEN_JS_EH = ("env.invoke_", "env.__cxa_find_matching_catch_")


def _emscripten_js_exceptions(iface: Interface) -> str:
    """Emscripten's -fexceptions (or setjmp/longjmp) done by its JavaScript: ``env.invoke_*`` calls back
    into JS for every call that may throw (found from outside: em++ -fexceptions, 30 env imports)."""
    n = sum(1 for i in iface.imports if i.startswith("env."))
    return (f"it is Emscripten output whose C++ exceptions or setjmp/longjmp are done by its JavaScript ({n} env "
            "imports such as invoke_* and __cxa_find_matching_catch_*): running it would take that JavaScript; "
            f"{COMMAND}. Build it with -sSTANDALONE_WASM and without -fexceptions: -fno-exceptions, or wasm "
            "exceptions in the standard encoding (-fwasm-exceptions with -sWASM_LEGACY_EXCEPTIONS=0, or "
            "-sWASM_EXNREF on older releases)")


def _napi_imports(iface: Interface) -> list[str]:
    out = []
    for imp in iface.imports:
        mod, _, name = imp.partition(".")
        if mod in ("napi", "emnapi") or (mod == "env" and name.startswith(_NAPI_PREFIXES)):
            out.append(imp)
    return out


def _threads(iface: Interface) -> str:
    said = []
    if _THREAD_SPAWN in iface.imports:
        said.append(f"imports {_THREAD_SPAWN}")
    if iface.shared_memory:
        said.append("a shared memory")
    elif "wasi_thread_start" in iface.exports and not said:
        said.append("exports wasi_thread_start")
    return " and ".join(said)


def _other_import_modules(iface: Interface, napi: list[str]) -> Counter:
    """Import modules that are neither WASI nor Node-API nor wasi-threads, with how many imports each
    (``env.memory``, a shared memory's usual home, is counted under threads)."""
    skip = set(napi) | {_THREAD_SPAWN}
    c: Counter = Counter()
    for imp in iface.imports:
        mod = imp.partition(".")[0]
        if imp in skip or mod in WASI_MODULES or is_shim(imp) or (
                imp == "env.memory" and (napi or iface.shared_memory)):
            continue
        if mod == "env" and napi and imp.partition(".")[2].startswith(("_emnapi", "emnapi")):
            continue
        c[mod] += 1
    return c


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
