"""The tests' calls to a Prefect server's REST API, retried the way Prefect's own client retries them.

The server answers 503 to errors it calls client-retryable (a database busy under load, see
``prefect.server.api.server``); Prefect's client retries those (and 429, 502) with backoff, honouring
``Retry-After``. A test that reads the API directly does the same, or a busy CI machine fails it on a
request the product itself would have retried (a schedule's resume, once, at load 15).
"""

from __future__ import annotations

import time

import httpx

RETRYABLE = frozenset({429, 502, 503})


def call(method: str, url: str, *, attempts: int = 8, **kw) -> httpx.Response:
    """One request; a retryable answer is asked again, up to ``attempts`` in all. The last answer is
    returned as it is (the caller's ``raise_for_status`` or assertion then names it)."""
    kw.setdefault("timeout", 60)
    for attempt in range(attempts):
        r = httpx.request(method, url, **kw)
        if r.status_code not in RETRYABLE or attempt == attempts - 1:
            return r
        time.sleep(_backoff(r, attempt))
    raise AssertionError("unreachable")


def _backoff(r: httpx.Response, attempt: int) -> float:
    try:
        asked = float(r.headers.get("Retry-After", ""))
    except ValueError:
        asked = 0.0
    return min(asked or 0.5 * 2 ** attempt, 15.0)


def post(url: str, **kw) -> httpx.Response:
    return call("POST", url, **kw)


def get(url: str, **kw) -> httpx.Response:
    return call("GET", url, **kw)
