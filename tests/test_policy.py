"""Capability policy per trust level."""

import pytest
import wasmtime

from support.wat import hostile
from wasmops.errors import PolicyDenied, SpecError
from wasmops.supply.policy import check_module, load_policy


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def test_plain_wasi_command_is_allowed_when_sandboxed(policy):
    v = check_module(hostile("ok"), "sandboxed", policy)
    assert v.allowed, v.reasons
    assert "wasi_snapshot_preview1.fd_write" in v.facts["imports"]


def test_socket_import_is_denied_when_sandboxed_but_allowed_when_trusted(policy):
    v = check_module(hostile("forbidden"), "sandboxed", policy)
    assert not v.allowed
    assert any("sock_accept" in r for r in v.reasons)
    assert check_module(hostile("forbidden"), "trusted", policy).allowed


def test_filesystem_import_is_denied_when_sandboxed(policy):
    wasm = wasmtime.wat2wasm('(module (import "wasi_snapshot_preview1" "path_open" '
                             '(func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32))) (func (export "_start")))')
    v = check_module(wasm, "sandboxed", policy)
    assert [r for r in v.reasons if "path_open" in r]
    assert check_module(wasm, "standard", policy).allowed


def test_non_wasi_import_and_missing_start_are_denied(policy):
    wasm = wasmtime.wat2wasm('(module (import "env" "host_call" (func)))')
    v = check_module(wasm, "sandboxed", policy)
    assert len(v.reasons) == 2
    with pytest.raises(PolicyDenied, match="outside the allowed modules"):
        v.raise_if_denied("x.wasm")


def test_memory_limit_above_trust_level_cap_is_denied(policy):
    v = check_module(hostile("ok"), "sandboxed", policy, memory_limit=2**30)
    assert any("memory limit" in r for r in v.reasons)


def test_unknown_trust_level_names_the_known_ones(policy):
    with pytest.raises(SpecError, match="sandboxed, standard, trusted"):
        check_module(hostile("ok"), "root", policy)


def test_bad_policy_file_names_file_and_field(tmp_path):
    p = tmp_path / "pol.yaml"
    p.write_text("kind: ModulePolicy\nspec:\n  trustLevels:\n    sandboxed: {maxSize: lots}\n")
    with pytest.raises(SpecError) as e:
        load_policy(p)
    assert str(p) in str(e.value) and "maxSize" in str(e.value)
