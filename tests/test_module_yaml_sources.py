"""module.yaml's ``sources`` must name files inside the module directory, and every reader says so.

Found from outside (docs/decisions.md, "Strangers' modules, fourth round"): an AssemblyScript user
pointed ``sources`` at the compiler's output beside the module (``../../as/out.wasm``); `wasmops add`
wrote the manifest without a word, and `test` and `release` then refused the path. The check now sits
in the one loader (``load_module_source``), so `add` refuses it too, before writing anything."""

from __future__ import annotations

import pytest

from wasmops.errors import SpecError
from wasmops.supply.source import load_module_source


@pytest.mark.parametrize("where", ["../out.wasm", "sub/../../out.wasm", "ABS"])
def test_a_source_outside_the_module_directory_is_refused_even_when_it_exists(tmp_path, where):
    (tmp_path / "out.wasm").write_bytes(b"\0asm\1\0\0\0")
    mod = tmp_path / "m"
    (mod / "sub").mkdir(parents=True)
    rel = str(tmp_path / "out.wasm") if where == "ABS" else where
    (mod / "module.yaml").write_text(f"name: m\nlanguage: prebuilt\nsources: ['{rel}']\n")
    with pytest.raises(SpecError, match=r"sources: .* must be a path inside the module directory") as e:
        load_module_source(mod)
    assert str(mod / "module.yaml") in str(e.value) and "into the module directory" in e.value.hint


def test_a_source_inside_it_loads(tmp_path):
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "out.wasm").write_bytes(b"\0asm\1\0\0\0")
    (tmp_path / "module.yaml").write_text("name: m\nlanguage: prebuilt\nsources: [build/out.wasm]\n")
    assert load_module_source(tmp_path).sources == ["build/out.wasm"]
