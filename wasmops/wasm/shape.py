"""What a module must look like to run here, checked the same way everywhere.

``wasmops check`` (policy), ``wasmops test`` (an unpooled sandbox), a prebuilt build and the host
(a pooled sandbox) used to each have their own idea: a module with four memories passed every
check and grew them all past the memory limit (the store limiter caps each memory, not their sum);
a table of 10 million elements passed ``check`` and ``test`` and was then refused by the host's
pooling allocator as "not a valid wasm module"; shared memory validated and then trapped at run.
So:

* one set of wasm features (:func:`engine_config`): no multi-memory, no threads (shared memory);
  a module using them is refused when it is validated, naming the feature;
* one table cap (``TABLE_ELEMENTS`` per table, ``MAX_TABLES``), checked on the binary before it is
  compiled (:func:`check_shape`) and enforced on ``table.grow`` by every store's limiter;
* one reading of a file that is neither a core module nor a component (text, another version),
  naming the file.

    >>> from wasmtime import wat2wasm
    >>> check_shape(wat2wasm('(module (table 10 funcref))'), where="m.wasm")
    >>> check_shape(wat2wasm('(module (table 200000 funcref))'), where="m.wasm")
    Traceback (most recent call last):
    ...
    wasmops.errors.SpecError: m.wasm: a table of 200000 elements: the host allows at most 100000 per table (...)
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from wasmops.errors import SpecError

if TYPE_CHECKING:
    import wasmtime

MAGIC = b"\0asm"
CORE_VERSION = b"\x01\x00\x00\x00"
COMPONENT_VERSION = b"\x0d\x00\x01\x00"   # a component (version 13, layer 1): WASI 0.2 commands run (wasm.component)
TABLE_ELEMENTS = 100_000      # per table: the pooling allocator's table_elements and every store's limiter
MAX_TABLES = 8                # per module: the pooling allocator's max_tables_per_module
MAX_FUEL = 10**15             # per run, everywhere (module.yaml, manifests, the host's deploy body)
MAX_STDIN = 8 * 2**20         # the host's POST /run body: a run's stdin there
MAX_EXIT_CODE = 125           # WASI's proc_exit carries no more: a larger status already reads as an error
MAX_ARGS = 64                 # fixed arguments of a run (module.yaml, test cases, manifests, the deploy body)
MAX_ARGS_BYTES = 16 * 1024    # their UTF-8 bytes together (each with its NUL, as the guest's argv_buf holds them)

#: wasmtime's validation message (a fragment) -> what it means here.
_FEATURES = {
    "multiple memories": "more than one memory (multi-memory), which the host does not enable: the memory limit "
                    "caps one memory, so a module gets exactly one",
    "threads": "shared memory (the threads proposal), which the host does not enable: a run is single-threaded",
    "shared memor": "shared memory (the threads proposal), which the host does not enable: a run is single-threaded",
    "legacy_exceptions": "the legacy exception-handling instructions (try/catch/rethrow, as Emscripten's and "
                         "clang's -fwasm-exceptions emitted them by default), which wasmtime does not run: it runs "
                         "the standard ones (try_table, exnref). Rebuild for those (newer Emscripten "
                         "-sWASM_LEGACY_EXCEPTIONS=0, older -sWASM_EXNREF; clang -mllvm -wasm-use-legacy-eh=false), "
                         "translate the binary (Binaryen's wasm-opt --translate-to-exnref), or build without "
                         "exceptions (-fno-exceptions)",
}


def success_exit_codes(codes: list[int]) -> list[int]:
    """Exit codes besides 0 that mean success (module.yaml, manifests, the host's deploy body), sorted
    and unique; a ValueError names the ones outside 1..125."""
    bad = [c for c in codes if not 1 <= c <= MAX_EXIT_CODE]
    if bad:
        raise ValueError(f"exit codes are 1..{MAX_EXIT_CODE} (0 is always success; WASI's proc_exit carries "
                         f"no more), not {bad}")
    return sorted(set(codes))


def run_args(args: list[str]) -> list[str]:
    """Fixed arguments of a run, after argv[0] (module.yaml, a test case, a manifest, the host's deploy
    body): at most ``MAX_ARGS`` of them, ``MAX_ARGS_BYTES`` together, none holding a NUL byte (a C
    string ends there: the guest would see a shorter argument). A ValueError says which rule.

        >>> run_args(["-o", "-", ""])
        ['-o', '-', '']
        >>> run_args(["a\\0b"])
        Traceback (most recent call last):
        ...
        ValueError: argument 0 holds a NUL byte, which ends a C string: the module would see 'a'
    """
    for i, a in enumerate(args):
        if "\0" in a:
            raise ValueError(f"argument {i} holds a NUL byte, which ends a C string: the module would see "
                             f"{a.split(chr(0))[0]!r}")
        try:
            a.encode()
        except UnicodeEncodeError:
            raise ValueError(f"argument {i} is not valid text (a lone UTF-16 surrogate): argv is UTF-8") from None
    if len(args) > MAX_ARGS:
        raise ValueError(f"{len(args)} arguments: at most {MAX_ARGS}")
    size = sum(len(a.encode()) + 1 for a in args)
    if size > MAX_ARGS_BYTES:
        raise ValueError(f"the arguments take {size} bytes (UTF-8, one NUL each): at most {MAX_ARGS_BYTES}")
    return list(args)


def engine_config() -> "wasmtime.Config":
    """The wasm features every engine here is built with (the sandbox adds fuel, epochs, pooling)."""
    import wasmtime     # lazily: manifests and module.yaml read this module's caps without wasmtime

    cfg = wasmtime.Config()
    cfg.wasm_multi_memory = False
    cfg.wasm_threads = False
    return cfg


@lru_cache(maxsize=1)
def validation_engine() -> "wasmtime.Engine":
    """One engine with these features, for validating and inspecting modules (policy, prebuilt builds)."""
    import atexit

    import wasmtime

    atexit.register(validation_engine.cache_clear)   # freed before interpreter teardown, while wasmtime can
    return wasmtime.Engine(engine_config())


def check_header(data: bytes, *, where: str | None) -> None:
    """A SpecError naming ``where`` unless ``data`` starts like a core module (binary, version 1) or a
    component (``wasmops.wasm.component``: a WASI 0.2 command runs; anything else it names)."""
    if data[:4] != MAGIC:
        head = data[:8].hex(" ") if data else "an empty file"
        text = data[:64].lstrip().startswith(b"(module")
        raise SpecError(f"not a WebAssembly binary: it starts with {head}, not 00 61 73 6d ('\\0asm')"
                        + (" (it is WebAssembly text)" if text else ""), where=where,
                        hint="a module given as WAT text is built from source: `language: wat` in module.yaml"
                        if text else "a prebuilt module must be a compiled .wasm file")
    if data[4:8] not in (CORE_VERSION, COMPONENT_VERSION):
        what = "a WebAssembly component of another version" if data[6:8] == b"\x01\x00" else "binary version"
        raise SpecError(f"{what} {data[4:8].hex(' ')}, neither a core module (01 00 00 00) nor a component "
                        "(0d 00 01 00)", where=where,
                        hint="wasmops runs WASI preview 1 core modules (e.g. Rust --target wasm32-wasip1) and WASI "
                             "0.2 command components (wasm32-wasip2)")


def refusal(message: str) -> str:
    """The one line a refused binary gets: what the host does not run, or why it is not valid.

    >>> refusal("failed to parse\\nCaused by:\\n    threads must be enabled for shared memories (at offset 0x9f)")
    'a module the host cannot run: it uses shared memory (the threads proposal), which the host does not enable: \
a run is single-threaded (threads must be enabled for shared memories (at offset 0x9f))'
    """
    said = explain_invalid(message)
    if said.startswith("the module uses "):        # valid wasm, a feature the engine leaves off
        return "a module the host cannot run: it uses " + said.removeprefix("the module uses ")
    return f"not a valid wasm module: {said}"


def explain_invalid(message: str) -> str:
    """wasmtime's validation error as a reader of this project needs it: the feature named."""
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip() and ln.strip() != "Caused by:"]
    first = lines[-1] if lines else "invalid module"        # the cause, under "failed to parse ..."
    low = message.lower()
    for key, meaning in _FEATURES.items():
        if key in low:
            return f"the module uses {meaning} ({first})"
    if "pooling allocator" in low:
        return f"the module needs more than the host's per-module limits ({first})"
    return first


def check_shape(wasm: bytes, *, where: str | None) -> None:
    """Tables over the host's caps, found on the binary (no compile): a SpecError naming ``where``."""
    mins = table_minimums(wasm)
    if len(mins) > MAX_TABLES:
        raise SpecError(f"{len(mins)} tables: the host allows at most {MAX_TABLES} per module", where=where)
    big = max(mins, default=0)
    if big > TABLE_ELEMENTS:
        raise SpecError(f"a table of {big} elements: the host allows at most {TABLE_ELEMENTS} per table "
                        "(table.grow past it fails too)", where=where)


def table_minimums(wasm: bytes) -> list[int]:
    """The declared minimum size of each table the module defines (its table section); [] when
    there is none or the binary cannot be read this simply (validation then has the last word)."""
    try:
        for sid, body in _sections(wasm):
            if sid == 4:
                return _tables(body)
    except (IndexError, ValueError):
        pass
    return []


def _sections(wasm: bytes):
    pos = 8
    while pos < len(wasm):
        sid = wasm[pos]
        size, pos = _leb(wasm, pos + 1)
        yield sid, wasm[pos:pos + size]
        pos += size


def _tables(body: bytes) -> list[int]:
    count, pos = _leb(body, 0)
    out = []
    for _ in range(count):
        if body[pos] == 0x40:             # a table with an initializer (function references): not read here
            raise ValueError("table initializer")
        flags = body[pos + 1]             # after the reference type byte
        minimum, pos = _leb(body, pos + 2)
        if flags & 1:
            _, pos = _leb(body, pos)
        out.append(minimum)
    return out


def _leb(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos
        if shift > 63:
            raise ValueError("LEB128 too long")
