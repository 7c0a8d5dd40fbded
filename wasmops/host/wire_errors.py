"""The host's errors on the wire, in one table both ends read (as httpx keeps one exception map at its
boundary): the server answers an error with ``ERRORS``' status and ``{"error": <class name>}``; the
client turns that body back into the same class. Light on purpose: the CLI imports it.

    >>> status_of(ModuleStalled("blob altered"))
    503
    >>> error_class("QuarantinedError", 409).__name__, error_class("Nope", 503).__name__
    ('QuarantinedError', 'TransientError')
    >>> error_class("Nope", 400).__name__, error_class("Nope", 500).__name__
    ('UserError', 'WasmopsError')
"""

from __future__ import annotations

from ..errors import (IntegrityError, NotFound, PolicyDenied, QuarantinedError, SignatureError, TransientError,
                      UserError, WasmopsError)


class ModuleStalled(WasmopsError):
    """The module is deployed but refused to load (e.g. its stored blob was altered): not served."""


class PayloadTooLarge(UserError):
    """A request body over the limit (answered 413 without reading the rest)."""


class Busy(TransientError):
    """The module's lane is full: answered 503 with ``Retry-After`` at once."""


#: Most specific first: the first class an error is an instance of gives its status.
ERRORS: tuple[tuple[type[WasmopsError], int], ...] = (
    (PayloadTooLarge, 413), (ModuleStalled, 503), (Busy, 503), (NotFound, 404), (PolicyDenied, 403),
    (SignatureError, 403), (QuarantinedError, 409), (IntegrityError, 422), (TransientError, 503),
    (UserError, 400), (WasmopsError, 500))

_BY_NAME = {cls.__name__: cls for cls, _ in ERRORS}


def status_of(exc: BaseException) -> int:
    """The HTTP status the host answers ``exc`` with (500 for anything not in the table)."""
    for cls, code in ERRORS:
        if isinstance(exc, cls):
            return code
    return 500


def error_class(name: str | None, status: int) -> type[WasmopsError]:
    """The class a client raises for an error body naming ``name`` with ``status``: the named class
    when the table has it, else by status (5xx from 503 on transient, other 4xx the caller's input)."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    return TransientError if status >= 503 else UserError if status < 500 else WasmopsError
