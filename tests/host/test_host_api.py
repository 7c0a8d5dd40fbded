"""The host against a real running process: invocation, admin API, admission, limits, restart."""

from __future__ import annotations

import concurrent.futures as cf
import json
import statistics
import time

import httpx
import pytest

from wasmops.host.client import run_result

from support.host import HostProcess
from support.wat import FIXTURES

HOSTILE = {p.stem: p.read_text() for p in (FIXTURES / "hostile").glob("*.wat")}
LIMITS = {"fuel": 50_000_000, "memory": "4Mi", "timeout_ms": 500, "max_stdout": "1Mi"}


def deploy(host, ws, name, wat=None, ns="dev", **kw):
    ref, digest = ws.publish_wat(name, wat or HOSTILE[name])
    body = {"ref": ref, "digest": digest, "limits": kw.pop("limits", LIMITS),
            "labels": kw.pop("labels", {"team": "core", "project": "demo"}), **kw}
    return host.deploy(ns, name, **body), digest


def test_health_and_readiness(host):
    assert host.http.get("/healthz").status_code == 200
    assert host.http.get("/readyz").status_code == 200


def test_admin_requires_token_and_changes_nothing_without_it(host, workspace):
    anon = httpx.Client(base_url=host.url)
    assert anon.get("/admin/modules").status_code == 401
    bad = anon.put("/admin/modules/dev/x", json={}, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert all(m["name"] != "x" for m in host.modules())


def test_deploy_invoke_and_live_state(host, workspace):
    res, digest = deploy(host, workspace, "ok")
    assert res["changed"] is True and res["module"]["digest"] == digest
    r = host.run("dev", "ok", b"{}")
    assert r.status_code == 200 and r.json() == {"ok": True}
    assert r.headers["x-wasmops-digest"] == digest
    assert int(r.headers["x-wasmops-fuel"]) > 0
    assert float(r.headers["x-wasmops-duration-ms"]) > 0
    mods = {m["name"]: m for m in host.modules()}
    m = mods["ok"]
    assert m["namespace"] == "dev" and m["digest"] == digest and m["labels"]["team"] == "core"
    assert m["limits"]["memory"] == 4 * 2**20 and m["deployed_at"] and m["health"] == "Healthy"
    ref = res["module"]["ref"]
    again = host.deploy("dev", "ok", ref=ref, digest=digest, limits=LIMITS, labels={"team": "core", "project": "demo"})
    assert again["changed"] is False


@pytest.mark.parametrize("name,status,reason", [
    ("loop", 504, "timeout"), ("grow", 422, "memory_limit"), ("recurse", 422, "stack_overflow"),
    ("flood", 422, "stdout_limit"), ("exit7", 502, "exit_nonzero"),
])
def test_hostile_modules_get_their_error_response(host, workspace, name, status, reason):
    # Only `loop` is about the deadline: the others get 10 s (the sandboxed maximum), so a loaded
    # machine (a pool run at low priority waits for CPU) cannot turn their limit into a timeout.
    timeout = LIMITS["timeout_ms"] if name == "loop" else 10_000
    deploy(host, workspace, "ok")   # the well-behaved neighbour (idempotent: this test runs alone too)
    deploy(host, workspace, name, limits={**LIMITS, "fuel": 10**12, "timeout_ms": timeout})
    r = host.run("dev", name, b"{}")
    assert r.status_code == status, r.text
    assert r.headers["x-wasmops-error"] == reason and run_result(r).reason == reason
    assert host.run("dev", "ok", b"{}").json() == {"ok": True}


def test_forbidden_import_is_refused_at_admission(host, workspace):
    with pytest.raises(Exception, match="sock_accept"):
        deploy(host, workspace, "forbidden")
    assert "forbidden" not in {m["name"] for m in host.modules()}


def test_unsigned_untrusted_tampered_and_wrong_digest_are_refused(host, workspace, tmp_path):
    from wasmops.errors import IntegrityError, SignatureError, UserError
    from wasmops.supply.signing import generate_keypair

    ref, digest = workspace.publish_wat("unsigned", HOSTILE["ok"], sign=False)
    with pytest.raises(SignatureError, match="not signed"):
        host.deploy("dev", "unsigned", ref=ref, digest=digest)
    generate_keypair(tmp_path / "k", tmp_path / "k.pub")
    ref, digest = workspace.publish_wat("untrusted", HOSTILE["ok"], key=tmp_path / "k")
    with pytest.raises(SignatureError, match="(?i)untrusted|not in the keyring|not trusted"):
        host.deploy("dev", "untrusted", ref=ref, digest=digest)
    ref, digest = workspace.publish_wat("okref", HOSTILE["ok"])
    with pytest.raises((IntegrityError, UserError)):
        host.deploy("dev", "okref", ref=ref, digest="sha256:" + "0" * 64)
    # Tamper with the wasm blob in the layout: admission must notice the digest mismatch.
    layout = workspace.settings.oci_layout
    idx = json.loads((layout / "index.json").read_text())
    man_digest = next(m["digest"] for m in idx["manifests"] if m["digest"] == digest)
    manifest = json.loads((layout / "blobs" / "sha256" / man_digest.split(":")[1]).read_bytes())
    blob = layout / "blobs" / "sha256" / manifest["layers"][0]["digest"].split(":")[1]
    good = blob.read_bytes()
    blob.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    try:
        with pytest.raises(IntegrityError):
            host.deploy("dev", "okref", ref=ref, digest=digest)
    finally:
        blob.write_bytes(good)
    names = {m["name"] for m in host.modules()}
    assert not names & {"unsigned", "untrusted", "okref"}


def test_refused_update_keeps_the_previous_version_serving(host, workspace):
    deploy(host, workspace, "keep", HOSTILE["ok"])
    ref, digest = workspace.publish_wat("keep-bad", HOSTILE["forbidden"])
    with pytest.raises(Exception):
        host.deploy("dev", "keep", ref=ref, digest=digest, limits=LIMITS)
    assert host.run("dev", "keep", b"{}").json() == {"ok": True}


def test_unknown_module_is_404_and_delete_works(host, workspace):
    assert host.run("dev", "nope", b"{}").status_code == 404
    deploy(host, workspace, "gone", HOSTILE["ok"])
    host.delete("dev", "gone")
    assert host.run("dev", "gone", b"{}").status_code == 404


def test_metrics_are_exact_per_module(host, workspace):
    deploy(host, workspace, "counted", HOSTILE["ok"], labels={"team": "payments", "project": "p1"})
    deploy(host, workspace, "loop", limits={**LIMITS, "fuel": 10**12})   # idempotent: this test runs alone too
    assert host.run("dev", "loop", b"{}").status_code == 504
    fuel = 0
    for _ in range(25):
        fuel += int(host.run("dev", "counted", b"{}").headers["x-wasmops-fuel"])
    text = host.metrics()
    line = next(l for l in text.splitlines()
                if l.startswith("wasmops_invocations_total{") and 'module="counted"' in l)
    assert 'team="payments"' in line and 'project="p1"' in line and line.endswith(" 25.0")
    fline = next(l for l in text.splitlines() if l.startswith("wasmops_fuel_consumed_total{") and 'module="counted"' in l)
    assert float(fline.rsplit(" ", 1)[1]) == fuel
    err = [l for l in text.splitlines() if l.startswith("wasmops_errors_total{") and 'module="loop"' in l]
    assert err and 'reason="timeout"' in err[0]


def test_concurrent_requests_and_neighbour_latency_under_hostile_load(host, workspace):
    deploy(host, workspace, "calm", HOSTILE["ok"])
    deploy(host, workspace, "loop", limits={**LIMITS, "fuel": 10**12})

    def lat(n=40):
        out = []
        for _ in range(n):
            t = time.perf_counter()
            assert host.run("dev", "calm", b"{}").status_code == 200
            out.append(time.perf_counter() - t)
        return statistics.median(out)

    quiet = lat()
    with cf.ThreadPoolExecutor(4) as pool:
        hostile = [pool.submit(host.run, "dev", "loop", b"{}") for _ in range(2)]
        loaded = lat()
        assert all(f.result().status_code == 504 for f in hostile)
    print(f"calm p50 quiet {quiet*1e3:.2f} ms, beside 2 runaway modules {loaded*1e3:.2f} ms")
    assert loaded < quiet * 10 + 0.02  # not starved: the GIL is released while wasm runs


def test_restart_restores_state_without_recompiling(workspace):
    hp = HostProcess(workspace)
    c = hp.start()
    try:
        ref, digest = workspace.publish_wat("persist", HOSTILE["ok"])
        c.deploy("dev", "persist", ref=ref, digest=digest, limits=LIMITS)
    finally:
        hp.stop("kill")  # no graceful shutdown: the acknowledged deploy must survive
    compiled = set((workspace.home / "cache" / "compiled").glob("*.cwasm"))
    c2 = hp.start()
    try:
        assert c2.run("dev", "persist", b"{}").json() == {"ok": True}
        assert c2._call("GET", "/admin/stats").json()["compiles"] == 0
        assert set((workspace.home / "cache" / "compiled").glob("*.cwasm")) == compiled
    finally:
        hp.stop()


def test_a_rust_panic_through_the_host_names_its_function_and_the_body_is_not_claimed_json(host, workspace):
    wasm = (FIXTURES / "rust-wordfreq" / "main.wasm").read_bytes()   # built by Debian's rustc, not by us
    ref, digest = workspace.publish_wasm("rust-wordfreq", wasm)
    host.deploy("dev", "rust-wordfreq", ref=ref, digest=digest, labels={"team": "core", "project": "demo"},
                limits={**LIMITS, "memory": "8Mi", "timeout_ms": 10_000})
    ok = host.run("dev", "rust-wordfreq", b"b a b")
    assert ok.status_code == 200 and ok.content == b"b 2\na 1\n"
    assert ok.headers["content-type"] == "application/octet-stream"
    r = host.run("dev", "rust-wordfreq", b"please PANIC now")
    rr = run_result(r)
    assert r.status_code == 422 and r.headers["x-wasmops-error"] == "trap" and rr.exit_code is None
    assert rr.message.startswith("wasm `unreachable` instruction executed in __rust_start_panic"), rr.message
    assert "`" in r.headers["x-wasmops-message"]              # printable ASCII travels as it is
    assert b"panicked at" in rr.stderr


ARGV0_WAT = """(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $sz (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $p i32) (local $n i32)
    (drop (call $sz (i32.const 0) (i32.const 4)))
    (drop (call $get (i32.const 16) (i32.const 256)))
    (local.set $p (i32.load (i32.const 16)))
    (block $end (loop $l
      (br_if $end (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1))) (br $l)))
    (i32.store (i32.const 8) (local.get $p)) (i32.store (i32.const 12) (local.get $n))
    (drop (call $w (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 100)))))"""


def test_argv0_is_the_module_name_as_in_wasmops_test_whatever_the_target_is_called(host, workspace):
    """A module that prints its argv[0], onboarded under another target name (a user's case: the
    release was rolled back because `wasmops test` said `argv-echo` and the host said the target's name)."""
    from wasmops.onboard import Target, deployment_for
    from wasmops.supply.source import ModuleSource, TestCase
    from wasmops.supply.testrun import run_cases
    from wasmtime import wat2wasm

    src = ModuleSource(name="argv-echo", language="wat", sources=["m.wat"],
                       tests=[TestCase(name="argv0", expect_stdout="argv-echo")])
    assert run_cases(src, wat2wasm(ARGV0_WAT)).passed
    labels = deployment_for(src, Target("dev", "renamed"), team="core", project="demo", cost_center=None,
                            env="dev", trust_level="sandboxed", source=".").metadata.labels
    deploy(host, workspace, "renamed", ARGV0_WAT, labels=labels)
    assert host.run("dev", "renamed", b"").content == b"argv-echo"
    deploy(host, workspace, "no-label", ARGV0_WAT)      # a hand-written manifest without the label
    assert host.run("dev", "no-label", b"").content == b"no-label"
