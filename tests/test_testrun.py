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


def test_a_failed_case_shows_the_first_line_of_a_long_stderr_and_its_last():
    from wasmops.supply.testrun import TestReport, judge
    from wasmops.wasm.sandbox import RunResult

    go_panic = ("panic: runtime error: index out of range [16] with length 0\n\ngoroutine 1 [running]:\n"
                + "".join(f"runtime.frame{i}()\n\t/usr/lib/go/src/runtime/x.go:{i}\n" for i in range(200))
                + "exit status 2\n").encode()
    r = RunResult(exit_code=2, stdout=b"", stderr=go_panic, fuel_used=1, peak_memory=65536, duration_s=0.001,
                  reason="exit_nonzero", message="exited with code 2")
    case = judge(TestCase(name="words", stdin="a"), r)
    assert not case.passed and case.stderr.startswith("panic: runtime error") and case.stderr.endswith("exit status 2\n")
    row = TestReport(module="m", digest=None, cases=[case]).rows()[0]
    assert "stderr: panic: runtime error: index out of range" in row["reason"] and row["reason"].endswith("exit status 2")


def test_the_release_judge_probes_with_every_case_that_ends_at_once():
    from wasmops.release.steps import probe_bodies

    s = src([TestCase(name="ok", stdin="a"), TestCase(name="panics", stdin="PANIC", expect_error="trap"),
             TestCase(name="bad", stdin="", expect_exit=2), TestCase(name="env", stdin="e", env={"X": "1"}),
             TestCase(name="spins", stdin="loop", expect_error="timeout"),
             TestCase(name="argv", stdin="v", args=["-v"])])
    assert probe_bodies(s) == [b"a", b"PANIC", b""]          # failing paths are probed too; limits and args not
    assert probe_bodies(src([TestCase(name="spins", stdin="P", expect_error="out_of_fuel")])) == [b"{}"]


def test_a_limit_is_the_reason_given_before_the_stdout_it_cut():
    report = run_cases(src([TestCase(name="exact", expect_stdout='{"ok":true}')], max_stdout=4), hostile("ok"))
    assert report.cases[0].reason.startswith("stdout_limit"), report.cases[0].reason


from hypothesis import example, given, strategies as st  # noqa: E402

from wasmops.supply.testrun import judge  # noqa: E402
from wasmops.wasm.sandbox import RunResult  # noqa: E402

_TEXT = st.text(alphabet=st.sampled_from("ab \t\r\n{}\"é"), max_size=300)


@given(prefix=_TEXT, got=_TEXT, want=_TEXT)
@example(prefix="", got="ok\r\n", want="ok")
@example(prefix="", got="  ok", want="ok")
@example(prefix="x" * 100, got="a", want="b")
def test_a_stdout_mismatch_shows_a_difference_a_person_can_see(prefix, got, want):
    """Found from outside: a module printing "ok\\r\\n" failed `expect_stdout: ok` with
    "stdout 'ok' != expected 'ok'" (the message stripped what the comparison kept); a long common
    prefix hid the difference past 80 characters the same way."""
    out, exp = prefix + got, prefix + want
    r = RunResult(exit_code=0, stdout=out.encode(), stderr=b"", fuel_used=1, peak_memory=0, duration_s=0.0)
    res = judge(TestCase(name="c", expect_stdout=exp), r)
    if out.rstrip("\n") == exp.rstrip("\n"):
        assert res.passed
        return
    assert not res.passed
    shown_got, shown_want = res.reason.removeprefix("stdout ").split(" != expected ", 1)
    assert shown_got != shown_want, res.reason
