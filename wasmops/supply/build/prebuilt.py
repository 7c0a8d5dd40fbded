"""A prebuilt ``.wasm`` file: copied as is, after checking it is a valid core wasm module."""

from __future__ import annotations

from pathlib import Path

from wasmops.errors import BuildFailed, SpecError
from wasmops.supply.source import ModuleSource
from wasmops.supply.build import _toolchain as T
from wasmops.fsutil import atomic_copy
from wasmops.supply.build._validate import validate_wasm

LANGUAGE = "prebuilt"
SUFFIXES: tuple[str, ...] = ()


def find_toolchain(settings=None) -> T.Toolchain:
    return T.Toolchain(LANGUAGE, "copy", "1")


def flags(src: ModuleSource, tc: T.Toolchain) -> list[str]:
    return []


def compile(src: ModuleSource, tc: T.Toolchain, dest: Path, ctx: T.BuildContext) -> None:
    assert src.root is not None
    if len(src.sources) != 1:
        raise SpecError(f"a prebuilt module has exactly one .wasm file, not {len(src.sources)}",
                        where=str(src.root / "module.yaml"))
    path = src.root / src.sources[0]
    if not path.is_file():
        raise BuildFailed("not a file", where=str(path))
    validate_wasm(path.read_bytes(), where=str(path))
    atomic_copy(path, dest)
