"""`wasmops` prints an orchestrator that stopped answering as one line, not a traceback; a bug
keeps its traceback (the function answers None for anything else)."""

import httpx
from hypothesis import given, strategies as st
from prefect.exceptions import PrefectHTTPStatusError

from wasmops.cli import orchestrator_failure


def _status_error(code: int) -> PrefectHTTPStatusError:
    req = httpx.Request("POST", "http://127.0.0.1:4200/api/task_runs/")
    return PrefectHTTPStatusError("failed", request=req, response=httpx.Response(code, request=req))


def _chain(inner: BaseException, depth: int) -> BaseException:
    """``inner`` raised ``depth`` levels down, each level re-raising it wrapped (as the flow engine does)."""
    exc = inner
    for i in range(depth):
        outer = RuntimeError(f"level {i}")
        outer.__cause__ = exc
        exc = outer
    return exc


@given(depth=st.integers(0, 6), code=st.integers(500, 599))
def test_a_5xx_anywhere_in_the_chain_is_one_line(depth, code):
    line = orchestrator_failure(_chain(_status_error(code), depth))
    assert line is not None and line.startswith(str(code)) and "/api/task_runs/" in line


@given(depth=st.integers(0, 6))
def test_a_refused_connection_is_one_line(depth):
    assert orchestrator_failure(_chain(httpx.ConnectError("All connection attempts failed"), depth)) == \
        "ConnectError: All connection attempts failed"


@given(depth=st.integers(0, 6), code=st.integers(400, 499))
def test_client_errors_and_bugs_keep_their_traceback(depth, code):
    assert orchestrator_failure(_chain(_status_error(code), depth)) is None
    assert orchestrator_failure(_chain(KeyError("x"), depth)) is None


def test_a_cycle_in_the_chain_ends():
    a, b = RuntimeError("a"), RuntimeError("b")
    a.__context__, b.__context__ = b, a
    assert orchestrator_failure(a) is None
