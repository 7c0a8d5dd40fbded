"""One error table for the host's wire: whatever the server answers, the client raises the same class
back (a round trip through real HTTP bodies), for every error class and for messages of any text."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmops.errors import TransientError, UserError, WasmopsError
from wasmops.host.admission import STEPS
from wasmops.host.client import HostClient
from wasmops.host.server import error_response
from wasmops.host.wire_errors import ERRORS, error_class, status_of

CLASSES = [cls for cls, _ in ERRORS]


def _client_for(response) -> HostClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(response.status, content=response.body, headers={"content-type": "application/json"})

    c = HostClient("http://host.test")
    c.http = httpx.Client(base_url="http://host.test", transport=httpx.MockTransport(handler))
    return c


@settings(deadline=None, max_examples=60)
@given(st.sampled_from(CLASSES), st.text(max_size=200), st.sampled_from((None, *STEPS)))
def test_the_client_raises_what_the_server_answered(cls, message, step):
    """Class and admission step both come back as the server sent them."""
    exc = cls(message)
    exc.step = step
    resp = error_response(exc)
    assert resp.status == status_of(cls(message))
    with pytest.raises(WasmopsError) as info:
        _client_for(resp).modules()
    assert type(info.value) is cls and info.value.step == step


def test_every_class_is_reachable_and_gets_an_error_status():
    """A subclass listed after its base would never be chosen: the table lists subclasses first."""
    for i, (cls, code) in enumerate(ERRORS):
        assert 400 <= code < 600
        assert status_of(cls("x")) == code
        for later, _ in ERRORS[i + 1:]:
            assert not (issubclass(later, cls) and later is not cls), f"{later.__name__} after its base {cls.__name__}"


@given(st.text(max_size=30), st.integers(400, 599))
def test_unknown_error_names_fall_back_by_status(name, status):
    cls = error_class(name, status)
    if name not in {c.__name__ for c in CLASSES}:
        assert cls is (TransientError if status >= 503 else UserError if status < 500 else WasmopsError)
