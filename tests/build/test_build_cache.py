"""The content-addressed build cache: a hit skips the compiler; any source change is a miss."""

from pathlib import Path

import pytest

import wasmops.supply.build as B
from wasmops.supply.build import build
from wasmops.supply.source import load_module_source

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _no_compiler(*a, **k):
    raise AssertionError("the compiler ran on a cache hit")


@pytest.mark.parametrize("name", ["greet-c", "upper-zig", "sum-wat"])
def test_second_build_is_a_cache_hit(name, tmp_path, settings, monkeypatch):
    src = load_module_source(EXAMPLES / name)
    first = build(src, tmp_path / "a", settings=settings)
    monkeypatch.setattr(B.LANGUAGES[src.language], "compile", _no_compiler)
    second = build(src, tmp_path / "b", settings=settings)
    assert (first.cached, second.cached) == (False, True)
    assert second.sha256 == first.sha256 and second.toolchain == first.toolchain
    assert second.path.read_bytes() == first.path.read_bytes()
    with pytest.raises(AssertionError, match="compiler ran"):
        build(src, tmp_path / "c", settings=settings, use_cache=False)


def test_an_unlisted_header_change_is_a_miss(tmp_path, settings, run_wasi):
    d = tmp_path / "hdr"
    d.mkdir()
    (d / "value.h").write_text("#define VALUE 1\n")
    (d / "main.c").write_text('#include "value.h"\nint main(void) { return VALUE; }\n')
    (d / "module.yaml").write_text("name: hdr\nlanguage: c\nsources: [main.c]\n")
    one = build(load_module_source(d), tmp_path / "o", settings=settings)
    (d / "value.h").write_text("#define VALUE 7\n")
    seven = build(load_module_source(d), tmp_path / "o", settings=settings)
    assert not seven.cached and seven.sha256 != one.sha256
    assert run_wasi(seven.path.read_bytes()).exit_code == 7


def test_flags_are_part_of_the_key(tmp_path, settings, copy_example):
    d = copy_example("greet-c")
    a = build(load_module_source(d), tmp_path / "a", settings=settings)
    yml = d / "module.yaml"
    # a define nothing reads: same bytes, but the key must still change (flags can change the output)
    yml.write_text(yml.read_text().replace("sources: [greet.c]", "sources: [greet.c]\nflags: [-DUNUSED=1]"))
    b = build(load_module_source(d), tmp_path / "b", settings=settings)
    assert not b.cached and a.sha256 == b.sha256
    assert build(load_module_source(d), tmp_path / "c", settings=settings).cached


def test_a_prebuilt_module_is_not_copied_into_the_build_cache(tmp_path, settings):
    """Found onboarding npm's ruby.wasm (36.0 MB) and flite.wasm (21.5 MB): each version of a prebuilt
    module left a copy in <workspace>/cache/builds for good (76 MB after three), to save a check of
    0.1-0.25 s. Every version here differs by a custom section, as a rebuild with new metadata does."""
    wasm = build(load_module_source(EXAMPLES / "sum-wat"), tmp_path / "a", settings=settings).path.read_bytes()
    before = {p for p in Path(settings.build_cache).rglob("*.wasm")}
    d = tmp_path / "pre"
    d.mkdir()
    (d / "module.yaml").write_text("name: pre\nlanguage: prebuilt\nsources: [m.wasm]\n")
    for version in range(3):
        body = bytes([4]) + b"note" + bytes([version])       # a custom section: name "note", one byte
        (d / "m.wasm").write_bytes(wasm + b"\x00" + bytes([len(body)]) + body)
        r = build(load_module_source(d), tmp_path / f"out{version}", settings=settings)
        assert not r.cached and r.path.read_bytes() == (d / "m.wasm").read_bytes()
    assert {p for p in Path(settings.build_cache).rglob("*.wasm")} == before
