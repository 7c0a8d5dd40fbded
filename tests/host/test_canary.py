"""A canary beside the stable digest, against a real host process: the weighted split (measured),
pinning, full admission, abort under load (zero failed requests), promote, restart mid-rollout."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from support.host import HostProcess
from support.worker import worker_wat

LIMITS = {"fuel": 50_000_000, "memory": "2Mi", "timeout_ms": 1000}
LABELS = {"team": "core", "project": "canary"}


def _pair(ws, name: str, stable_loops: int = 2000, canary_loops: int = 4000):
    s_ref, s_digest = ws.publish_wat(f"{name}-v1", worker_wat(stable_loops, "v1"))
    c_ref, c_digest = ws.publish_wat(f"{name}-v2", worker_wat(canary_loops, "v2"))
    return (s_ref, s_digest), (c_ref, c_digest)


def _start(host, ws, name: str, weight: int, **kw):
    (s_ref, s), (c_ref, c) = _pair(ws, name, **kw)
    host.deploy("dev", name, ref=s_ref, digest=s, limits=LIMITS, labels=LABELS)
    res = host.set_canary("dev", name, ref=c_ref, digest=c, limits=LIMITS, labels=LABELS, weight=weight)
    return s, c, res


def _share(host, name: str, canary: str, n: int) -> float:
    got = [host.run("dev", name, b"{}").headers["x-wasmops-digest"] for _ in range(n)]
    return sum(d == canary for d in got) / n


def test_split_by_weight_pinning_and_metrics(host, workspace):
    s, c, res = _start(host, workspace, "split", 10)
    assert res["changed"] is True and res["canary"]["weight"] == 10
    shares = {}
    for w in (10, 50, 90):
        host.set_canary_weight("dev", "split", w)
        shares[w] = _share(host, "split", c, 200)
    print(f"\ncanary share measured over 200 requests: {shares}")
    assert shares == {10: 0.10, 50: 0.50, 90: 0.90}             # counter-based: exact over any 100
    for d in (s, c):
        for _ in range(3):
            r = host.run("dev", "split", b"{}", pin=d)
            assert r.status_code == 200 and r.headers["x-wasmops-digest"] == d
    bad = host.run("dev", "split", b"{}", pin="sha256:" + "0" * 64)
    assert bad.status_code == 404 and "is not served by dev/split" in bad.json()["message"]
    m = {x["name"]: x for x in host.modules()}["split"]
    assert m["digest"] == s and m["canary"]["digest"] == c and m["canary"]["weight"] == 90
    text = host.metrics()
    for d in (s, c):
        assert f'wasmops_invocations_total{{digest="{d}",module="split"' in text


def test_canary_failing_admission_does_not_start(host, workspace):
    s_ref, s = workspace.publish_wat("adm-v1", worker_wat(2000, "v1"))
    host.deploy("dev", "adm", ref=s_ref, digest=s, limits=LIMITS, labels=LABELS)
    c_ref, c = workspace.publish_wat("adm-v2", worker_wat(2000, "v2"), sign=False)
    with pytest.raises(Exception, match="not signed"):
        host.set_canary("dev", "adm", ref=c_ref, digest=c, limits=LIMITS, labels=LABELS, weight=50)
    assert "canary" not in {x["name"]: x for x in host.modules()}["adm"]
    assert all(host.run("dev", "adm", b"{}").headers["x-wasmops-digest"] == s for _ in range(20))
    with pytest.raises(Exception, match="already the stable digest"):
        host.set_canary("dev", "adm", ref=s_ref, digest=s, limits=LIMITS, labels=LABELS, weight=50)


def test_abort_under_load_loses_no_request_and_promote(host, workspace):
    s, c, _ = _start(host, workspace, "abort", 50)
    failures, seen, stop = [], [], threading.Event()

    def load():
        with httpx.Client(base_url=host.url, timeout=10) as cl:
            while not stop.is_set():
                sent = time.perf_counter()      # a request sent before the ack may still meet the canary
                r = cl.post("/run/dev/abort", content=b"{}")
                seen.append((sent, r.headers.get("x-wasmops-digest")))
                if r.status_code != 200:
                    failures.append(r.status_code)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    t0 = time.perf_counter()
    host.delete_canary("dev", "abort")
    t_ack = time.perf_counter()
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    after = [d for t, d in seen if t > t_ack]
    last_canary = max((t for t, d in seen if d == c), default=t0)
    print(f"\nabort: admin call {1000 * (t_ack - t0):.1f} ms; last canary response "
          f"{1000 * (last_canary - t0):.1f} ms after the call; {len(seen)} requests, {len(failures)} failed")
    assert not failures and len(seen) > 50
    assert after and set(after) == {s}
    # promote: a fresh canary becomes stable without a new admission
    host.set_canary("dev", "abort", ref={x["name"]: x for x in host.modules()}["abort"]["ref"].replace("abort-v1", "abort-v2"),
                    digest=c, limits=LIMITS, labels=LABELS, weight=10)
    res = host.promote_canary("dev", "abort")
    assert res["promoted"] == c and "canary" not in res["module"] and res["module"]["digest"] == c
    assert {host.run("dev", "abort", b"{}").headers["x-wasmops-digest"] for _ in range(10)} == {c}


def test_restart_mid_rollout_resumes_both_digests_at_the_recorded_weight(workspace):
    hp = HostProcess(workspace)
    h = hp.start()
    try:
        s, c, _ = _start(h, workspace, "resume", 50)
        h.set_canary_weight("dev", "resume", 20)
    finally:
        hp.stop("kill")      # no graceful shutdown: what was acknowledged must come back
    h2 = hp.start()
    try:
        m = {x["name"]: x for x in h2.modules()}["resume"]
        assert m["digest"] == s and m["canary"]["digest"] == c and m["canary"]["weight"] == 20
        assert _share(h2, "resume", c, 100) == 0.20
        h2.delete_canary("dev", "resume")
    finally:
        hp.stop()
    h3 = hp.start()          # the abort is persisted too
    try:
        assert "canary" not in {x["name"]: x for x in h3.modules()}["resume"]
    finally:
        hp.stop()
