"""Several worker processes behind one port (``wasmops host --workers 2``), against the real host:
exact /metrics across processes, a deploy acknowledged only once every worker serves it, a killed
worker restarted (its counts kept), limits unchanged, a clean SIGTERM."""

from __future__ import annotations

import concurrent.futures as cf
import http.client
import os
import random
import signal
import time
from urllib.parse import urlsplit

import pytest

from wasmops.errors import TransientError
from wasmops.host.client import HostClient

from support.host import HostProcess, make_workspace
from support.wat import FIXTURES, printing_wat

HOSTILE = {n: (FIXTURES / "hostile" / f"{n}.wat").read_text() for n in ("loop", "grow", "flood", "exit7")}
LIMITS = {"fuel": 10**12, "memory": "4Mi", "timeout_ms": 300, "max_stdout": "64Ki"}

# Written for this test: echoes up to 256 bytes of stdin, burning fuel in proportion to their length.
ECHO = """(module
  (import "wasi_snapshot_preview1" "fd_read" (func $r (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $n i32) (local $i i32)
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 256))
    (drop (call $r (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (local.set $n (i32.load (i32.const 8)))
    (block $done (loop $spin
      (br_if $done (i32.ge_u (local.get $i) (i32.mul (local.get $n) (i32.const 50))))
      (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $spin)))
    (i32.store (i32.const 4) (local.get $n))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    ws = make_workspace(tmp_path_factory.mktemp("workers"))
    hp = HostProcess(ws)
    client = hp.start("--workers", "2", "--threads", "2")
    yield ws, hp, client
    hp.stop("kill")


def deploy(env, name, wat, **kw):
    ws, _hp, c = env
    ref, digest = ws.publish_wat(name, wat)
    c.deploy("dev", name, ref=ref, digest=digest, limits=kw.pop("limits", LIMITS), **kw)
    return ref, digest


def workers(c) -> list[dict]:
    return c._call("GET", "/admin/workers").json()["workers"]


def token(c) -> str:
    return c.http.headers["authorization"].split(" ", 1)[1]


def metric(text: str, name: str, **labels) -> float:
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
               if l.startswith(name + "{") and all(f'{k}="{v}"' in l for k, v in labels.items()))


class Reply:
    def __init__(self, status: int, headers: dict, content: bytes):
        self.status_code, self.headers, self.content = status, headers, content


def fresh_post(url: str, body: bytes) -> Reply:
    """POST on a new connection (SO_REUSEPORT picks the worker); http.client: cheaper than an httpx client."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request("POST", u.path, body=body)
        r = conn.getresponse()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def test_metrics_are_exact_across_worker_processes_under_concurrent_load(env):
    _ws, _hp, c = env
    deploy(env, "echo", ECHO, labels={"team": "t1", "project": "p1"})
    rnd = random.Random(14)
    bodies = [bytes(rnd.randrange(32, 127) for _ in range(rnd.randrange(0, 200))) for _ in range(120)]
    with cf.ThreadPoolExecutor(8) as pool:
        rs = list(pool.map(lambda b: fresh_post(f"{c.url}/run/dev/echo", b), bodies))
    assert [r.status_code for r in rs] == [200] * len(bodies)
    assert [r.content for r in rs] == bodies
    served = {w["index"]: w["invocations"] for w in workers(c)}
    assert len(served) == 2 and all(n > 0 for n in served.values()) and sum(served.values()) == len(bodies), served
    text = c.metrics()
    assert metric(text, "wasmops_invocations_total", module="echo", team="t1") == len(bodies)
    assert metric(text, "wasmops_fuel_consumed_total", module="echo") == sum(int(r.headers["x-wasmops-fuel"]) for r in rs)
    assert metric(text, "wasmops_request_duration_seconds_count", module="echo") == len(bodies)
    assert metric(text, "wasmops_admissions_total", module="echo", result="admitted") == 1   # counted once
    assert text.count("# TYPE wasmops_invocations_total counter") <= 1


def test_a_deploy_is_acknowledged_only_when_every_worker_serves_it(env):
    _ws, _hp, c = env
    _, v1 = deploy(env, "flip", printing_wat("one"))
    for text in ("two", "three"):
        _, new = deploy(env, "flip", printing_wat(text))
        rs = [fresh_post(f"{c.url}/run/dev/flip", b"") for _ in range(16)]    # right after the ack
        assert {(r.status_code, r.headers["x-wasmops-digest"], r.content) for r in rs} == {(200, new, text.encode())}
        assert [w["modules"]["dev/flip"] for w in workers(c)] == [new, new]
    ref, canary = deploy(env, "flip-c", printing_wat("canary"))
    c.set_canary("dev", "flip", ref=ref, digest=canary, limits=LIMITS, weight=100)
    assert [w["canaries"].get("dev/flip") for w in workers(c)] == [canary, canary]
    assert {fresh_post(f"{c.url}/run/dev/flip", b"").content for _ in range(8)} == {b"canary"}
    c.delete_canary("dev", "flip")
    c.delete("dev", "flip")
    assert all("dev/flip" not in w["modules"] and "dev/flip" not in w["canaries"] for w in workers(c))
    assert {fresh_post(f"{c.url}/run/dev/flip", b"").status_code for _ in range(8)} == {404}
    assert v1 != new


def test_the_canary_split_is_exact_across_workers(env):
    ws, _hp, c = env
    _, stable = deploy(env, "split", printing_wat("stable"))
    ref, canary = ws.publish_wat("split-c", printing_wat("canary"))
    c.set_canary("dev", "split", ref=ref, digest=canary, limits=LIMITS, weight=10)
    with cf.ThreadPoolExecutor(4) as pool:
        rs = list(pool.map(lambda _: fresh_post(f"{c.url}/run/dev/split", b""), range(100)))
    assert sorted(r.content for r in rs) == [b"canary"] * 10 + [b"stable"] * 90     # any 100 in a row
    c.set_canary_weight("dev", "split", 30)
    prober = HostClient(c.url, c.http.headers["authorization"].split(" ", 1)[1], probe=True)
    rs, probed = [], []
    for i in range(100):        # unpinned release probes between them: the stable digest, and the split unmoved
        rs.append(fresh_post(f"{c.url}/run/dev/split", b""))
        if i % 3 == 0:
            probed.append(prober.invoke("dev", "split", b"")[0].stdout)
    assert sum(r.content == b"canary" for r in rs) == 30
    assert set(probed) == {b"stable"}
    assert all(w["canaries"]["dev/split"] == canary for w in workers(c))
    c.delete_canary("dev", "split")
    assert stable != canary


@pytest.mark.parametrize("name,status,reason", [("loop", 504, "timeout"), ("grow", 422, "memory_limit"),
                                                ("flood", 422, "stdout_limit"), ("exit7", 502, "exit_nonzero")])
def test_limits_hold_in_every_worker(env, name, status, reason):
    _ws, _hp, c = env
    deploy(env, name, HOSTILE[name])
    n = 2 if name == "loop" else 4
    rs = [fresh_post(f"{c.url}/run/dev/{name}", b"{}") for _ in range(n)]
    assert {(r.status_code, r.headers["x-wasmops-error"]) for r in rs} == {(status, reason)}
    if name == "flood":
        assert all(len(r.content) <= 64 * 1024 for r in rs)
    assert metric(c.metrics(), "wasmops_errors_total", module=name, reason=reason) == n


def test_a_killed_worker_is_restarted_and_its_counts_are_kept(env):
    _ws, _hp, c = env
    deploy(env, "echo", ECHO, labels={"team": "t1", "project": "p1"})
    before = metric(c.metrics(), "wasmops_invocations_total", module="echo")   # a scrape: fresh snapshots
    victim = workers(c)[0]
    os.kill(victim["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 60
    ws: list = []
    while True:   # fresh clients: a kept-alive connection may have been the victim's
        try:
            view = HostClient(c.url, token(c))._call("GET", "/admin/workers").json()
        except TransientError:     # a connection queued on the dying worker's socket is reset by the kernel
            view = {"workers": []}
        ws = view["workers"]
        if len(ws) == 2 and all(w["ready"] for w in ws) and victim["pid"] not in {w["pid"] for w in ws}:
            break
        assert time.monotonic() < deadline, ws
    assert view["restarts"] >= 1
    c = HostClient(c.url, token(c))
    rs = [fresh_post(f"{c.url}/run/dev/echo", b"again") for _ in range(12)]
    assert {(r.status_code, r.content) for r in rs} == {(200, b"again")}
    assert metric(c.metrics(), "wasmops_invocations_total", module="echo") == before + 12


def test_sigterm_stops_every_worker(env):
    _ws, hp, c = env
    pids = [w["pid"] for w in workers(HostClient(c.url, token(c)))]
    hp.stop()
    assert hp.proc.returncode == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
