"""Is this a WebAssembly binary? Magic bytes first (a clear message), then ``Module.validate``."""

from __future__ import annotations

from functools import lru_cache

from wasmops.errors import BuildFailed

MAGIC = b"\0asm"
CORE_VERSION = b"\x01\x00\x00\x00"


@lru_cache(maxsize=1)
def _engine():
    import wasmtime

    return wasmtime.Engine()


def validate_wasm(data: bytes, *, where: str) -> None:
    """Raise BuildFailed unless ``data`` is a valid core WebAssembly module."""
    import wasmtime

    if data[:4] != MAGIC:
        head = data[:8].hex(" ") if data else "an empty file"
        raise BuildFailed(f"not a WebAssembly binary: it starts with {head}, not 00 61 73 6d ('\\0asm')",
                          where=where, hint="a prebuilt module must be a compiled .wasm file, not text or WAT")
    if data[4:8] != CORE_VERSION:
        what = "a WebAssembly component" if data[6:8] == b"\x01\x00" else f"binary version {data[4:8].hex(' ')}"
        raise BuildFailed(f"{what}, not a core module (version 01 00 00 00)", where=where,
                          hint="wasmops runs WASI preview 1 core modules")
    try:
        wasmtime.Module.validate(_engine(), data)
    except wasmtime.WasmtimeError as exc:
        raise BuildFailed(f"invalid WebAssembly module: {str(exc).strip()[:500]}", where=where) from exc
