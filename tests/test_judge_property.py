"""One judge: a case means the same in `wasmops test` (sandbox) and in post-deploy verify (host).

Modules and cases are generated (hypothesis): exit codes 0-3, stdout and stderr text, exact and
`contains` expectations. Each case is judged once from the sandbox run and once from the real
host process's HTTP response; the verdicts and reasons must be identical.
"""

from __future__ import annotations

import wasmtime
from hypothesis import HealthCheck, given, settings, strategies as st

from wasmops.supply.source import ModuleSource, TestCase
from wasmops.supply.testrun import run_cases
from wasmops.release.verify import verify_via_host

LIMITS = {"fuel": 10_000_000, "memory": "2Mi", "timeout_ms": 1000, "max_stdout": "64Ki"}
TEXT = st.text(alphabet="abcxyz 019{}\":,", max_size=24)

# stdin "<exit digit><stdout>|<stderr>": writes stdout and stderr, then exits with the digit.
PROGRAMMABLE = r"""
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr)) (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (local $n i32) (local $i i32) (local $bar i32)
    (block $done (loop $more
      (i32.store (i32.const 0) (i32.add (i32.const 1024) (local.get $n)))
      (i32.store (i32.const 4) (i32.sub (i32.const 60000) (local.get $n)))
      (br_if $done (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (br_if $done (i32.eqz (i32.load (i32.const 8))))
      (local.set $n (i32.add (local.get $n) (i32.load (i32.const 8))))
      (br $more)))
    (local.set $bar (local.get $n))
    (local.set $i (i32.const 1))
    (block $found (loop $scan
      (br_if $found (i32.ge_u (local.get $i) (local.get $n)))
      (if (i32.eq (i32.load8_u (i32.add (i32.const 1024) (local.get $i))) (i32.const 124))
        (then (local.set $bar (local.get $i)) (br $found)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $scan)))
    (call $write (i32.const 1) (i32.const 1025) (i32.sub (local.get $bar) (i32.const 1)))
    (if (i32.lt_u (local.get $bar) (local.get $n))
      (then (call $write (i32.const 2) (i32.add (i32.const 1025) (local.get $bar))
                  (i32.sub (i32.sub (local.get $n) (local.get $bar)) (i32.const 1)))))
    (call $proc_exit (i32.sub (i32.load8_u (i32.const 1024)) (i32.const 48)))))
"""


def constant_module(code: int, out: str, err: str) -> bytes:
    def data(at, s):
        return f'(data (i32.const {at}) "{_wat_str(s)}")' if s else ""
    ob, eb = out.encode(), err.encode()
    return wasmtime.wat2wasm(f"""
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  {data(64, out)} {data(512, err)}
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const {len(ob)}))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 0) (i32.const 512)) (i32.store (i32.const 4) (i32.const {len(eb)}))
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $proc_exit (i32.const {code}))))""")


def _wat_str(s: str) -> str:
    return "".join(f"\\{b:02x}" for b in s.encode())


@st.composite
def expectation(draw, out: str, code: int) -> dict:
    exit_ = draw(st.sampled_from([code, code, (code + 1) % 4]))
    kind = draw(st.sampled_from(["none", "exact", "exact-other", "contains", "contains-other"]))
    e: dict = {"expect_exit": exit_}
    if kind == "exact":
        e["expect_stdout"] = out
    elif kind == "exact-other":
        e["expect_stdout"] = out + draw(st.sampled_from(["!", " x"]))
    elif kind == "contains" and out:
        i = draw(st.integers(0, len(out) - 1))
        e["expect_stdout_contains"] = out[i: i + draw(st.integers(1, len(out) - i))]
    elif kind == "contains-other":
        e["expect_stdout_contains"] = draw(st.sampled_from(["#", "never-printed"]))
    return e


@st.composite
def programmable_case(draw, i: int) -> TestCase:
    code, out, err = draw(st.integers(0, 3)), draw(TEXT), draw(TEXT)
    return TestCase(name=f"c{i}", stdin=f"{code}{out}|{err}", **draw(expectation(out, code)))


def _src(name: str, cases: list[TestCase]) -> ModuleSource:
    return ModuleSource(name=name, language="prebuilt", sources=["x.wasm"], limits=LIMITS, tests=cases)


def _same_verdicts(host, name: str, digest: str, wasm: bytes, cases: list[TestCase]) -> None:
    src = _src(name, cases)
    local = run_cases(src, wasm, digest=digest)
    remote = verify_via_host(host, "dev", name, src, env={}, digest=digest)
    assert [(c.name, c.passed, c.reason, c.exit_code) for c in local.cases] == \
           [(c.name, c.passed, c.reason, c.exit_code) for c in remote.cases]
    assert [c.stdout for c in local.cases] == [c.stdout for c in remote.cases]


def _deploy(host, workspace, name: str, wasm: bytes) -> str:
    ref, digest = workspace.publish_wasm(name, wasm)
    host.deploy("dev", name, ref=ref, digest=digest, limits=LIMITS, labels={"team": "qa", "project": "judge"})
    return digest


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_cases_judged_alike_in_sandbox_and_host(host, workspace, data):
    wasm = wasmtime.wat2wasm(PROGRAMMABLE)
    digest = _deploy(host, workspace, "judge-prog", wasm)
    cases = [data.draw(programmable_case(i)) for i in range(data.draw(st.integers(1, 6)))]
    _same_verdicts(host, "judge-prog", digest, wasm, cases)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(code=st.integers(0, 3), out=TEXT, err=TEXT, data=st.data())
def test_generated_modules_judged_alike_in_sandbox_and_host(host, workspace, code, out, err, data):
    wasm = constant_module(code, out, err)
    name = f"judge-const-{code}"
    digest = _deploy(host, workspace, name, wasm)
    cases = [TestCase(name=f"c{i}", **data.draw(expectation(out, code))) for i in range(3)]
    _same_verdicts(host, name, digest, wasm, cases)
    r = host.run("dev", name, b"")
    assert r.content == out.encode()  # the module's own stdout on every exit
