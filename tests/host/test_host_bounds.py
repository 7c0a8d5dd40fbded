"""Bounded and billed, against the real host process: memory goes back after a memory-bomb flood,
a timed-out run is billed, malformed admin bodies get their 4xx, nothing of a run stays on disk."""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from rawhttp import metric, rss
from support.host import HostProcess, make_workspace
from support.wat import FIXTURES

WAT = {n: (FIXTURES / "hostile" / f"{n}.wat").read_text() for n in ("ok", "loop", "bomb")}
LIMITS = {"fuel": 50_000_000, "memory": "4Mi", "timeout_ms": 1000, "max_stdout": "1Mi"}
WORKERS = 4
MiB = 2**20


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """One host with its own TMPDIR, so the test can see every file it leaves behind."""
    ws = make_workspace(tmp_path_factory.mktemp("bounds"))
    tmpdir = tmp_path_factory.mktemp("host-tmp")
    old = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmpdir)
    hp = HostProcess(ws)
    try:
        client = hp.start("--threads", str(WORKERS), "--workers", "1")
    finally:
        os.environ.pop("TMPDIR") if old is None else os.environ.__setitem__("TMPDIR", old)
    yield ws, hp, client, tmpdir
    hp.stop()


def deploy(env, name, wat, **limits):
    ws, _hp, c, _t = env
    ref, digest = ws.publish_wat(name, wat)
    return c.deploy("dev", name, ref=ref, digest=digest, limits={**LIMITS, **limits})


def test_memory_bomb_flood_leaves_rss_within_the_bound(env):
    _ws, hp, c, _t = env
    deploy(env, "bomb", WAT["bomb"], memory="64Mi", fuel=10**12, timeout_ms=10_000)
    deploy(env, "calm", WAT["ok"])
    for _ in range(3):
        assert c.run("dev", "calm", b"{}").status_code == 200
    base = rss(hp.proc.pid)
    peak, done = [base], threading.Event()

    def sample():
        while not done.is_set():
            peak.append(rss(hp.proc.pid))
            done.wait(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with cf.ThreadPoolExecutor(8) as pool:
            rs = list(pool.map(lambda _: c.run("dev", "bomb", b"{}"), range(25)))
    finally:
        done.set()
        sampler.join()
    assert {r.status_code for r in rs} == {422} and {r.headers["x-wasmops-error"] for r in rs} == {"memory_limit"}
    assert all(int(r.headers["x-wasmops-memory"]) > 60 * MiB for r in rs)
    # docs/spec/host-api.md "Memory": after the flood, RSS is back within baseline + 32 MiB
    # (while it runs: baseline + workers x the largest memory limit).
    bound = base + 32 * MiB
    deadline = time.monotonic() + 10
    while rss(hp.proc.pid) > bound and time.monotonic() < deadline:
        c.run("dev", "calm", b"{}")
    after = rss(hp.proc.pid)
    running_bound = base + WORKERS * (64 + 1) * MiB + 32 * MiB
    print(f"host RSS before {base / MiB:.0f} MiB, peak {max(peak) / MiB:.0f} MiB (bound {running_bound / MiB:.0f}), "
          f"after 25 x 64 MiB bombs {after / MiB:.0f} MiB (bound {bound / MiB:.0f} MiB)")
    assert after <= bound
    assert max(peak) <= running_bound


def test_a_timed_out_run_is_billed_fuel_and_time_in_headers_and_metrics(env):
    _ws, _hp, c, _t = env
    deploy(env, "spin", WAT["loop"], fuel=10**13, timeout_ms=300)
    r = c.run("dev", "spin", b"{}")
    assert r.status_code == 504 and r.headers["x-wasmops-error"] == "timeout"
    fuel, cpu_ms = int(r.headers["x-wasmops-fuel"]), float(r.headers["x-wasmops-cpu-ms"])
    # CPU time depends on what else the machine runs; what matters is that the run is billed for it.
    assert cpu_ms > 10 and float(r.headers["x-wasmops-duration-ms"]) >= 290
    assert fuel > 1000 and r.headers["x-wasmops-fuel-estimated"] == "1"   # not 0 or 20: what it burnt
    text = c.metrics()
    assert metric(text, "wasmops_fuel_consumed_total", module="spin") == fuel
    assert metric(text, "wasmops_fuel_estimated_total", module="spin") == fuel
    assert metric(text, "wasmops_fuel_per_call_bucket", module="spin", le="1000.0") == 0
    assert metric(text, "wasmops_fuel_per_call_sum", module="spin") == fuel
    assert metric(text, "wasmops_cpu_seconds_total", module="spin") >= cpu_ms / 1000 * 0.99
    assert metric(text, "wasmops_request_duration_seconds_sum", module="spin") >= 0.29
    assert metric(text, "wasmops_errors_total", module="spin", reason="timeout") == 1


GOOD_DIGEST = "sha256:" + "a" * 64
BAD_BODIES = [
    ("list", b"[]", "body"), ("null", b"null", "body"), ("number", b"42", "body"), ("string", b'"x"', "body"),
    ("not json", b"{nope", "body"), ("deep", b"[" * 100_000 + b"]" * 100_000, "body"),
    ("deep in a field", b'{"env": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "body"),
    ("empty ref", json.dumps({"ref": "", "digest": GOOD_DIGEST}).encode(), "ref"),
    ("100 KB ref", json.dumps({"ref": "oci-layout://x:" + "a" * 100_000, "digest": GOOD_DIGEST}).encode(), "ref"),
    ("bad ref", json.dumps({"ref": "http://x", "digest": GOOD_DIGEST}).encode(), "ref"),
    ("bad digest", json.dumps({"ref": "oci-layout://x:t", "digest": "sha256:zz"}).encode(), "digest"),
    ("limits list", json.dumps({"ref": "oci-layout://x:t", "digest": GOOD_DIGEST, "limits": []}).encode(), "limits"),
    ("limits fuel", json.dumps({"ref": "oci-layout://x:t", "digest": GOOD_DIGEST,
                                "limits": {"fuel": "lots"}}).encode(), "limits.fuel"),
    ("limits size", json.dumps({"ref": "oci-layout://x:t", "digest": GOOD_DIGEST,
                                "limits": {"memory": "huge"}}).encode(), "limits.memory"),
    ("env value", json.dumps({"ref": "oci-layout://x:t", "digest": GOOD_DIGEST, "env": {"A": 1}}).encode(), "env.A"),
    ("replicas", json.dumps({"ref": "oci-layout://x:t", "digest": GOOD_DIGEST, "replicas": -1}).encode(), "replicas"),
]


@pytest.mark.parametrize("what,body,field", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_each_malformed_admin_body_gets_a_400_naming_the_field(env, what, body, field):
    _ws, _hp, c, _t = env
    r = c.http.put("/admin/modules/dev/shape", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, (what, r.status_code, r.text[:300])
    msg = r.json()["message"]
    assert msg.startswith(field) or f"{field}:" in msg, msg
    assert "shape" not in {m["name"] for m in c.modules()}


def test_a_body_over_the_limit_is_413_from_its_content_length_alone(env):
    _ws, hp, c, _t = env
    for path in ("/admin/modules/dev/big", "/run/dev/calm"):
        with socket.create_connection(("127.0.0.1", hp.port), timeout=10) as s:
            head = (f"PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {c.http.headers['authorization']}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {50 * MiB}\r\n\r\n")
            s.sendall(head.replace("PUT", "POST" if path.startswith("/run") else "PUT", 1).encode() + b"{")
            reply = _read_response(s)   # answered with 49.99 MB still unsent
        assert reply.startswith("HTTP/1.1 413"), reply[:200]
        assert "PayloadTooLarge" in reply


def _read_response(s: socket.socket) -> str:
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _content_length(data):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")


def _content_length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def test_module_io_files_are_private_emptied_and_gone_when_the_host_exits(env, tmp_path):
    ws, hp, c, tmpdir = env
    deploy(env, "calm", WAT["ok"])
    assert c.run("dev", "calm", b"{}").json() == {"ok": True}
    pid = hp.proc.pid
    base = Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else tmpdir
    [iodir] = [p for p in base.iterdir() if p.name.startswith(f"wasmops-io-{pid}-")]
    assert oct(iodir.stat().st_mode & 0o777) == "0o700"
    files = list(iodir.iterdir())
    assert files and all(oct(f.stat().st_mode & 0o777) == "0o600" and f.stat().st_size == 0 for f in files)
    assert not [p for p in base.iterdir() if p.name.startswith(f"wasmops-{pid}-")]   # the old per-thread files
    hp.stop()
    assert not [p for p in base.iterdir() if str(pid) in p.name]
    assert list(Path(tmpdir).iterdir()) == []
    # kill -9 leaves its directory; the next host sweeps it
    c2 = hp.start("--workers", "1")
    killed = hp.proc.pid
    c2.run("dev", "calm", b"{}")
    hp.stop("kill")
    assert [p for p in base.iterdir() if p.name.startswith(f"wasmops-io-{killed}-")]
    c3 = hp.start("--workers", "1")
    c3.run("dev", "calm", b"{}")
    assert not [p for p in base.iterdir() if p.name.startswith(f"wasmops-io-{killed}-")]
