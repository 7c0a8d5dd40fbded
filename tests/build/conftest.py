"""Fixtures for the builder tests: a private workspace and a tiny WASI runner on wasmtime-py.

The runner is independent of wasmops.wasm.sandbox on purpose: these tests check what the compilers
produce, with nothing of ours between the module and wasmtime.
"""

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import wasmtime

from wasmops.config import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str


def _run_wasi(wasm: bytes, stdin: str = "", env: dict | None = None, args: list | None = None) -> Run:
    """Run a WASI command: stdin from a temp file, stdout/stderr to temp files."""
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, wasm)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    store = wasmtime.Store(engine)
    with tempfile.TemporaryDirectory(prefix="wasmops-run-") as d:
        fin, fout, ferr = (Path(d) / n for n in ("stdin", "stdout", "stderr"))
        fin.write_text(stdin)
        cfg = wasmtime.WasiConfig()
        cfg.argv = ["module", *(args or [])]
        cfg.env = list((env or {}).items())
        cfg.stdin_file, cfg.stdout_file, cfg.stderr_file = str(fin), str(fout), str(ferr)
        store.set_wasi(cfg)
        instance = linker.instantiate(store, module)
        code = 0
        try:
            instance.exports(store)["_start"](store)
        except wasmtime.ExitTrap as trap:
            code = trap.code
        return Run(code, fout.read_text(), ferr.read_text())


@pytest.fixture
def run_wasi():
    """``run_wasi(wasm_bytes, stdin="", env=None, args=None) -> Run(exit_code, stdout, stderr)``."""
    return _run_wasi


@pytest.fixture
def settings(tmp_path):
    """A private workspace (so a private build cache); the zig cache stays the shared, warm one."""
    return Settings(home=tmp_path / "ws")


@pytest.fixture
def copy_example(tmp_path):
    def copy(name: str, dest: Path | None = None) -> Path:
        dest = dest or tmp_path / "copies" / name
        shutil.copytree(EXAMPLES / name, dest)
        return dest
    return copy
