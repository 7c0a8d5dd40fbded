"""Test cases from module.yaml run in the sandbox and produce a per-case table."""

from support.wat import hostile
from wasmops.supply.source import ModuleSource, TestCase
from wasmops.supply.testrun import run_cases


def src(tests, **limits):
    return ModuleSource(name="m", language="wat", sources=["m.wat"], tests=tests,
                        limits={"fuel": 10**7, "timeout_ms": 500, **limits})


def test_passing_and_failing_cases_are_reported_per_case():
    report = run_cases(src([
        TestCase(name="exact", expect_stdout='{"ok":true}'),
        TestCase(name="contains", expect_stdout_contains='"ok"'),
        TestCase(name="wrong", expect_stdout='{"ok":false}'),
        TestCase(name="exitcode", expect_exit=1),
    ]), hostile("ok"))
    by = {c.name: c for c in report.cases}
    assert by["exact"].passed and by["contains"].passed
    assert not by["wrong"].passed and "expected" in by["wrong"].reason
    assert not by["exitcode"].passed and "exit 0, expected 1" in by["exitcode"].reason
    assert not report.passed
    assert all(c.fuel_used > 0 and c.peak_memory == 65536 for c in report.cases)
    assert report.rows()[0]["result"] == "pass"


def test_expected_non_zero_exit_passes():
    report = run_cases(src([TestCase(name="seven", expect_exit=7)]), hostile("exit7"))
    assert report.passed


def test_runaway_module_fails_its_case_with_the_reason():
    report = run_cases(src([TestCase(name="spin")], fuel=100_000), hostile("loop"))
    assert not report.passed
    assert "out_of_fuel" in report.cases[0].reason


def test_no_cases_is_not_a_pass():
    assert not run_cases(src([]), hostile("ok")).passed
