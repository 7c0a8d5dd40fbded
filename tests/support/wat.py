"""Helpers to load the WAT fixtures under tests/fixtures/."""

from pathlib import Path

import wasmtime

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def hostile(name: str) -> bytes:
    return wasmtime.wat2wasm((FIXTURES / "hostile" / f"{name}.wat").read_text())
