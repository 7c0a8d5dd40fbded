"""WAT (WebAssembly text) to a binary module with ``wasmtime.wat2wasm``: no external toolchain."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

from wasmops.errors import BuildFailed, SpecError, ToolchainMissing
from wasmops.supply.source import ModuleSource
from wasmops.supply.build import _toolchain as T
from wasmops.fsutil import atomic_write
from wasmops.supply.build._run import trim_diagnostics

LANGUAGE = "wat"
SUFFIXES = (".wat",)
_ANON = re.compile(r"<anon>:(\d+):(\d+)")


def find_toolchain(settings=None) -> T.Toolchain:
    try:
        import wasmtime  # noqa: F401
        version = importlib.metadata.version("wasmtime")
    except (ImportError, importlib.metadata.PackageNotFoundError) as exc:
        raise ToolchainMissing("building WAT needs the Python package wasmtime",
                               hint="pip install 'wasmtime>=50,<51'") from exc
    return T.Toolchain(LANGUAGE, "wasmtime.wat2wasm", version)


def flags(src: ModuleSource, tc: T.Toolchain) -> list[str]:
    return list(src.flags)


def compile(src: ModuleSource, tc: T.Toolchain, dest: Path, ctx: T.BuildContext) -> None:
    import wasmtime

    assert src.root is not None
    if len(src.sources) != 1:
        raise SpecError(f"a wat module has exactly one source file, not {len(src.sources)}",
                        where=str(src.root / "module.yaml"))
    path = src.root / src.sources[0]
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise BuildFailed(f"not UTF-8 text: {exc}", where=str(path)) from exc
    try:
        data = wasmtime.wat2wasm(text)
    except wasmtime.WasmtimeError as exc:
        msg = str(exc).replace("<anon>", src.sources[0])
        m = _ANON.search(str(exc))
        where = f"{path}:{m.group(1)}:{m.group(2)}" if m else str(path)
        raise BuildFailed(f"wat2wasm rejected the source:\n{trim_diagnostics(msg)}", where=where,
                          hint="fix the source and build again") from exc
    atomic_write(dest, bytes(data), mode=0o644)
