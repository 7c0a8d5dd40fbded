"""A module this project did not write or build: Rust's std compiled by Debian's rustc (the prebuilt
path, tests/fixtures/rust-wordfreq). Its panics, allocation failures and debug-info size are what a
Rust user meets first."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from wasmops.errors import SpecError
from wasmops.supply.policy import check_module, custom_section_bytes
from wasmops.supply.source import TestCase, load_module_source
from wasmops.supply.testrun import run_cases
from wasmops.wasm.sandbox import RunLimits, Sandbox

RUST = Path(__file__).parent / "fixtures" / "rust-wordfreq"
WASM = (RUST / "main.wasm").read_bytes()
LIMITS = RunLimits(fuel=2 * 10**9, memory=8 * 2**20, timeout_ms=10_000)


@pytest.fixture(scope="module")
def prepared():
    sb = Sandbox()
    return sb, sb.load(WASM, "sha256:rust-wordfreq")


def test_its_cases_pass_including_a_panic_expected_as_a_trap():
    report = run_cases(load_module_source(RUST), WASM)
    assert report.passed, report.rows()
    assert {c.name: c.reason for c in report.cases}["panics"] == "ok (trap)"


def test_a_panic_names_its_function_and_keeps_the_panic_message_on_stderr(prepared):
    sb, prep = prepared
    r = sb.run(prep, stdin=b"please PANIC now", limits=LIMITS)
    assert r.exit_code is None and r.reason == "trap"
    assert r.message.startswith("wasm `unreachable` instruction executed in __rust_start_panic (a Rust panic"), r.message
    assert b"panicked at 'index out of bounds" in r.stderr


def test_a_case_that_did_not_expect_the_panic_fails_with_the_stderr_tail():
    src = load_module_source(RUST)
    report = run_cases(src, WASM, cases=[TestCase(name="surprise", stdin="PANIC", expect_stdout="x 1")])
    case = report.cases[0]
    assert not case.passed and case.reason.startswith("trap: wasm `unreachable` instruction executed in ")
    assert "trap: trap" not in case.reason
    assert "panicked at" in case.stderr and "panicked at" in report.rows()[0]["reason"]
    assert "panicked at" in report.to_dict()["cases"][0]["stderr"]


def test_expect_error_fails_a_run_that_exits_instead():
    src = load_module_source(RUST)
    report = run_cases(src, WASM, cases=[TestCase(name="no-panic", stdin="a b", expect_error="trap")])
    assert not report.passed and report.cases[0].reason == "exit 0, expected trap"


def test_a_refused_allocation_says_how_full_memory_was(prepared):
    sb, prep = prepared
    body = " ".join(f"w{i}" for i in range(400_000)).encode()     # ~3 MB of distinct words
    r = sb.run(prep, stdin=body, limits=LIMITS)
    assert r.reason in ("trap", "memory_limit"), (r.reason, r.message)
    assert b"memory allocation of" in r.stderr
    if r.reason == "trap":
        assert "of the 8 MiB limit" in r.message, r.message


@pytest.mark.parametrize("case,error", [
    ({"expect_exit": None}, "expect_error: trap"),
    ({"expect_exit": 0, "expect_error": "trap"}, "expect_exit and expect_error both given"),
    ({"expect_error": "panic"}, "tests.0.expect_error"),
    ({"expect_exit": "0"}, "tests.0.expect_exit: expect_exit must be an integer exit code, not the string '0'"),
])
def test_module_yaml_errors_name_the_field_and_the_fix(tmp_path, case, error):
    doc = yaml.safe_load((RUST / "module.yaml").read_text())
    doc["tests"] = [{"name": "c", **case}]
    (tmp_path / "module.yaml").write_text(yaml.safe_dump(doc))
    (tmp_path / "main.wasm").write_bytes(WASM)
    with pytest.raises(SpecError, match="expect_") as exc:
        load_module_source(tmp_path)
    assert error in str(exc.value) and "module.yaml" in str(exc.value)


def _with_custom_section(wasm: bytes, payload: bytes, name: bytes = b".debug_info") -> bytes:
    def leb(n: int) -> bytes:
        out = bytearray()
        while True:
            b, n = n & 0x7F, n >> 7
            out.append(b | (0x80 if n else 0))
            if not n:
                return bytes(out)
    body = leb(len(name)) + name + payload
    return wasm + b"\0" + leb(len(body)) + body


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(0, 3000), max_size=4))
def test_custom_section_bytes_counts_every_custom_section(sizes):
    wasm = WASM
    for n in sizes:
        wasm = _with_custom_section(wasm, b"\x01" * n)
    assert custom_section_bytes(wasm) - custom_section_bytes(WASM) == len(wasm) - len(WASM)


def test_an_oversized_debug_build_is_denied_with_the_strip_hint():
    fat = _with_custom_section(WASM, b"\0" * (9 * 2**20))
    v = check_module(fat, "sandboxed")
    assert not v.allowed
    [reason] = [r for r in v.reasons if r.startswith("size ")]
    assert "in custom sections such as debug info" in reason and "strip=debuginfo" in reason
    assert check_module(WASM, "sandboxed").allowed


def test_source_digest_reads_what_builds_the_module_and_not_build_output(tmp_path):
    import shutil

    from wasmops.supply.source import source_digest

    pre = shutil.copytree(RUST, tmp_path / "pre")
    d0 = source_digest(pre)
    (pre / "target" / "wasm32-wasi").mkdir(parents=True)
    (pre / "target" / "wasm32-wasi" / "big.rlib").write_bytes(b"\0" * 4096)
    (pre / "notes.txt").write_text("not an input of a prebuilt module")
    assert source_digest(pre) == d0
    (pre / "main.wasm").write_bytes(WASM + b"\0\x01\x00")         # an empty custom section: other bytes
    assert source_digest(pre) != d0

    c = shutil.copytree(Path(__file__).parents[1] / "examples" / "greet-c", tmp_path / "c")
    d1 = source_digest(c)
    (c / "target").mkdir()
    (c / "target" / "out.o").write_bytes(b"x")
    assert source_digest(c) == d1
    (c / "extra.h").write_text("#define X 1\n")                    # headers are not listed, yet count
    assert source_digest(c) != d1


@settings(max_examples=30, deadline=None)
@given(value=st.one_of(st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
                       st.floats(allow_nan=False)))
def test_a_size_of_the_wrong_type_is_one_line_naming_the_field(tmp_path_factory, value):
    """`max_stdout: [1]` read `limits.max_stdout.int: ...; limits.max_stdout.str: ...` (one line per union member)."""
    d = tmp_path_factory.mktemp("m")
    doc = yaml.safe_load((RUST / "module.yaml").read_text())
    doc["limits"]["max_stdout"] = value
    (d / "module.yaml").write_text(yaml.safe_dump(doc))
    (d / "main.wasm").write_bytes(WASM)
    try:
        load_module_source(d)
    except SpecError as exc:
        msg = str(exc)
        assert "limits.max_stdout" in msg and ".int:" not in msg and ".str:" not in msg, msg


def test_an_initial_memory_over_the_deployments_limit_names_the_manifest_field():
    """Found from outside: the policy denial said "(raise limits.memory)", module.yaml's field, though
    the limit it compares with is the deployment's (resources.memory in the manifest); every caller
    (release preflight, the policy step, host admission) passes the manifest's."""
    import wasmtime

    from wasmops.supply.policy import check_module

    wasm = wasmtime.wat2wasm('(module (memory (export "memory") 40) (func (export "_start")))')   # 2.5 MiB
    v = check_module(wasm, "sandboxed", memory_limit=1 << 20, where="big.wasm")
    why = " ".join(v.reasons)
    assert "resources.memory" in why and "limits.memory" not in why, why
