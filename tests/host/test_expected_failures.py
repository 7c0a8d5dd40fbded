"""X-Wasmops-Expect: a run that fails as its request said is not an error (hypothesis over exit codes
and reasons, through the host's own metrics object and its matching rule)."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given, strategies as st

from wasmops.host.metrics import HostMetrics, expected
from wasmops.wasm.sandbox import RunResult

REASONS = st.sampled_from([None, "exit_nonzero", "trap", "timeout", "out_of_fuel", "memory_limit"])


def _result(code, reason):
    if reason == "exit_nonzero" and not code:
        code = 1
    if reason not in (None, "exit_nonzero"):
        code = None
    return RunResult(exit_code=code, stdout=b"", stderr=b"", fuel_used=7, peak_memory=65536, duration_s=0.001,
                     reason=reason)


@given(code=st.integers(0, 255), reason=REASONS, said=st.one_of(st.integers(0, 255).map(lambda n: f"exit={n}"),
                                                                  st.sampled_from(["trap", "timeout", "exit=", "junk"])))
def test_only_the_failure_the_request_named_is_not_an_error(code, reason, said):
    r = _result(code, reason)
    m = HostMetrics()
    dep = SimpleNamespace(namespace="dev", name="m", digest="sha256:d", labels={"team": "t", "project": "p"})
    m.observe(dep, r, said.encode())
    text = m.render().decode()
    errors = sum(float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln.startswith("wasmops_errors_total{"))
    exp = sum(float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines()
              if ln.startswith("wasmops_expected_failures_total{"))
    matches = (said == f"exit={r.exit_code}" and r.reason in (None, "exit_nonzero")) or said == r.reason
    assert expected(said.encode(), r) == matches
    if r.ok:
        assert errors == exp == 0
    else:
        assert (errors, exp) == ((0.0, 1.0) if matches else (1.0, 0.0))
