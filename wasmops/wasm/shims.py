"""Imports from outside WASI that the host provides, because they grant nothing.

Emscripten's WASI output (``emcc -sSTANDALONE_WASM``) imports ``env.emscripten_notify_memory_growth``
whenever its memory may grow (``-sALLOW_MEMORY_GROWTH``, the usual setting): a notification, for a
JavaScript host to refresh its views of memory, that ``memory.grow`` happened. Everything else it
imports is WASI. Refused as "built for a host that provides env", such a module could not be onboarded
at all (found from outside, docs/decisions.md, "Strangers' modules, fourth round"); the host now
links these names to a function that does nothing, and the policy and the checks that refuse a
module built for another host do not count them::

    >>> is_shim("env.emscripten_notify_memory_growth"), is_shim("env.napi_create_string_utf8")
    (True, False)
"""

from __future__ import annotations

import wasmtime

#: "module.name" -> (params, results) of each import the host answers with a no-op.
NO_OPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "env.emscripten_notify_memory_growth": (("i32",), ()),      # the index of the memory that grew
}


def is_shim(name: str) -> bool:
    """Whether the import ``module.name`` is one the host provides as a no-op."""
    return name in NO_OPS


def install(linker: wasmtime.Linker, module: wasmtime.Module) -> None:
    """Define in ``linker`` each no-op ``module`` imports (a different signature still fails to link)."""
    for imp in module.imports:
        key = f"{imp.module}.{imp.name}"
        if key in NO_OPS:
            params, results = NO_OPS[key]
            ty = wasmtime.FuncType([getattr(wasmtime.ValType, p)() for p in params],
                                   [getattr(wasmtime.ValType, r)() for r in results])
            linker.define_func(imp.module, imp.name, ty, _nothing)


def _nothing(*_args) -> None:
    return None
