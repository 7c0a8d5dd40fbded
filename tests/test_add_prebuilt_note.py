"""`wasmops add` of a prebuilt module says what its first release's preflight will refuse.

Found onboarding npm packages: the @node-rs/crc32-wasm32-wasi addon and ruby.wasm were added without a
word ("next: wasmops release ...") and refused only at that release. `add` still writes the manifest
(it is written once and edited after, and tests/test_onboard.py releases such a one to see the
preflight refuse it); the note says why and where. The modules are built here with wat2wasm."""

from __future__ import annotations

import pytest
from support.cli_ws import make_cli_workspace
from wasmtime import wat2wasm

ADDON = ('(module (import "env" "napi_create_object" (func (param i32 i32) (result i32))) '
         '(import "wasi" "thread-spawn" (func (param i32) (result i32))) (import "env" "memory" (memory 1 8 shared)) '
         '(func (export "napi_register_wasm_v1") (param i32 i32) (result i32) (local.get 1)))')
OPENER = ('(module (import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) '
          '(result i32))) (memory (export "memory") 1) (func (export "_start")))')
PLAIN = '(module (memory (export "memory") 1) (func (export "_start")))'


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return make_cli_workspace(tmp_path_factory)


@pytest.mark.parametrize("name, wat, says", [
    ("addon", ADDON, ["note: a module the host cannot run: it uses shared memory",
                      "hint: it is a Node-API addon (napi-rs/emnapi: 1 napi import", "a runtime with wasi-threads"]),
    ("opener", OPENER, ["note: denied at trust level sandboxed: import wasi_snapshot_preview1.path_open is forbidden",
                        "hint: allowed at trust level standard or trusted"]),
    ("plain", PLAIN, []),
])
def test_add_notes_what_the_release_will_refuse_and_still_writes_the_manifest(ws, name, wat, says):
    d = ws.cwd / name
    d.mkdir()
    (d / "m.wasm").write_bytes(wat2wasm(wat))
    (d / "module.yaml").write_text(f"name: {name}\nlanguage: prebuilt\nsources: [m.wasm]\n"
                                   "tests:\n  - name: runs\n    stdin: ''\n")
    p = ws("add", name, "--target", f"dev/{name}", "--team", "qa", "--project", "p", check=0)
    out = " ".join(p.stdout.split())
    assert (ws.home / "gitops" / "modules" / "dev" / f"{name}.yaml").exists()
    for said in says:
        assert said in out, out
    assert ("will stop at its preflight" in out) == bool(says), out
    assert "Traceback" not in p.stderr
