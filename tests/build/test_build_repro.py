"""Reproducible builds: same sources -> same sha256, whatever the output dir or checkout path."""

from pathlib import Path

import pytest

from wasmops.supply.build import build
from wasmops.supply.source import load_module_source

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["greet-c", "upper-zig", "sum-wat"])
def test_same_digest_twice_and_from_another_path(name, tmp_path, settings, copy_example):
    first = build(load_module_source(EXAMPLES / name), tmp_path / "out1", settings=settings, use_cache=False)
    again = build(load_module_source(EXAMPLES / name), tmp_path / "out2" / "deeper", settings=settings,
                  use_cache=False)
    moved = copy_example(name, tmp_path / "elsewhere" / "a" / "much" / "longer" / "checkout" / name)
    other = build(load_module_source(moved), tmp_path / "out3", settings=settings, use_cache=False)
    assert not (first.cached or again.cached or other.cached)
    assert first.sha256 == again.sha256 == other.sha256
    assert first.path.read_bytes() == other.path.read_bytes()


def test_paths_do_not_leak_into_the_binary(tmp_path, settings, copy_example):
    moved = copy_example("greet-c", tmp_path / "leakcheck-dir" / "greet-c")
    data = build(load_module_source(moved), tmp_path / "leakcheck-out", settings=settings, use_cache=False)
    blob = data.path.read_bytes()
    for needle in (b"leakcheck", str(tmp_path).encode(), str(Path.home()).encode() + b"/", b".zig-cache"):
        assert needle not in blob


def test_renamed_module_gives_same_bytes_for_same_code(tmp_path, settings, copy_example):
    """The module name is metadata, not part of the binary (zig's --name must not leak in)."""
    d = copy_example("upper-zig")
    yml = d / "module.yaml"
    a = build(load_module_source(d), tmp_path / "a", settings=settings, use_cache=False)
    yml.write_text(yml.read_text().replace("name: upper-zig", "name: shout-zig"))
    b = build(load_module_source(d), tmp_path / "b", settings=settings, use_cache=False)
    assert b.path.name == "shout-zig.wasm" and a.sha256 == b.sha256
