"""Real traffic through the host, for telemetry, demos and load tests.

    >>> from wasmops.host.client import HostClient
    >>> from wasmops.telemetry import generate_load
    >>> generate_load(HostClient.from_workspace(), [], requests=10)
    Traceback (most recent call last):
    ValueError: generate_load needs at least one target

With the workspace's host running and ``dev/sum-wat`` deployed::

    >>> stats = generate_load(HostClient.from_workspace(),                  # doctest: +SKIP
    ...                       [("dev", "sum-wat", b"[1,2,3]")], requests=1000)
    >>> stats["by_status"], stats["latency_ms"]["p95"]                      # doctest: +SKIP
    ({200: 1000}, 3.1)

Requests go round-robin over the targets from a thread pool of ``concurrency`` workers sharing
one HTTP client. Every request is counted: by HTTP status, with 0 for a request that never got
an answer (the host was unreachable), and failed runs also by their ``X-Wasmops-Error`` reason.
"""

from __future__ import annotations

import concurrent.futures as cf
import time
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import TransientError


def _one(client, ns: str, name: str, body) -> tuple[int, float, str, int]:
    t = time.perf_counter()
    try:
        r = client.run(ns, name, body)
    except TransientError:
        return 0, time.perf_counter() - t, "unreachable", 0
    dt = time.perf_counter() - t
    fuel = int(r.headers.get("x-wasmops-fuel", 0) or 0)
    return r.status_code, dt, r.headers.get("x-wasmops-error", ""), fuel


def generate_load(client, targets: Sequence[tuple[str, str, bytes | str]], requests: int, concurrency: int = 4,
                  progress: Callable[[int, int], None] | None = None) -> dict:
    """Send ``requests`` requests over ``targets`` (``(namespace, name, body)``) with ``concurrency``
    threads; ``progress(done, total)`` is called as requests finish.

    Returns ``{"requests", "ok", "failed", "by_status": {status: n}, "by_target": {"ns/name": n},
    "errors": {reason: n}, "fuel": total fuel reported by the host, "duration_s", "rps",
    "latency_ms": {"p50", "p95", "p99", "max", "mean"}}`` (client-side latency).
    """
    if not targets:
        raise ValueError("generate_load needs at least one target")
    if requests < 0 or concurrency < 1:
        raise ValueError("requests must be >= 0 and concurrency >= 1")
    plan = [targets[i % len(targets)] for i in range(requests)]
    lat = np.zeros(requests)
    statuses: Counter = Counter()
    per_target: Counter = Counter()
    reasons: Counter = Counter()
    fuel = 0
    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="wasmops-load") as pool:
        futures = {pool.submit(_one, client, ns, name, body): i for i, (ns, name, body) in enumerate(plan)}
        for done, fut in enumerate(cf.as_completed(futures), start=1):
            i = futures[fut]
            status, dt, reason, f = fut.result()
            lat[i] = dt * 1000
            statuses[status] += 1
            per_target[f"{plan[i][0]}/{plan[i][1]}"] += 1
            fuel += f
            if reason:
                reasons[reason] += 1
            if progress is not None:
                progress(done, requests)
    duration = time.perf_counter() - t0
    pct = (lambda q: float(np.percentile(lat, q))) if requests else (lambda q: 0.0)
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    return {"requests": requests, "ok": ok, "failed": requests - ok, "by_status": dict(sorted(statuses.items())),
            "by_target": dict(per_target), "errors": dict(reasons), "fuel": fuel,
            "duration_s": duration, "rps": requests / duration if duration > 0 else 0.0,
            "latency_ms": {"p50": pct(50), "p95": pct(95), "p99": pct(99),
                           "max": float(lat.max()) if requests else 0.0,
                           "mean": float(lat.mean()) if requests else 0.0}}
