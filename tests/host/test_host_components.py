"""A real host serving WASI 0.2 command components (signed, published, admitted, precompiled), with the
same response shape as a core module's: the same status, body, headers (exit code, reason, stderr,
fuel, memory), the limits of the deployment, a restart that loads the precompiled component, and
metrics that bill it."""

from __future__ import annotations

import base64

import pytest
from support import components as c
from support.host import HostProcess, make_workspace

LIMITS = {"fuel": 5_000_000, "memory": "2Mi", "timeout_ms": 2000}
LABELS = {"wasmops.dev/module": "comp"}

#: The core module that does what ``components.exits(ok)`` does: ``bye`` on stdout, ``oops`` on stderr, exit.
CORE_EXITS = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "bye") (data (i32.const 80) "oops")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 3))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 0) (i32.const 80)) (i32.store (i32.const 4) (i32.const 4))
    (drop (call $w (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $exit (i32.const STATUS))))"""
_VARYING = {"x-wasmops-duration-ms", "x-wasmops-cpu-ms", "x-wasmops-fuel", "x-wasmops-digest", "date", "content-length"}


@pytest.fixture(scope="module", params=[(), ("--workers", "1")], ids=["inline", "workers"])
def served(tmp_path_factory, request):
    ws = make_workspace(tmp_path_factory.mktemp("ws"))
    hp = HostProcess(ws)
    hp.extra = request.param
    client = hp.start(*hp.extra)
    yield hp, client
    hp.stop()


def _deploy(hp, client, name: str, wasm: bytes | None = None, wat: str | None = None, **limits) -> str:
    ref, digest = hp.ws.publish_wasm(name, wasm) if wasm is not None else hp.ws.publish_wat(name, wat)
    client.deploy("t", name, ref=ref, digest=digest, limits={**LIMITS, **limits}, labels=LABELS)
    return digest


def _shape(r) -> tuple:
    wasmops = {k: v for k, v in r.headers.items() if k.startswith("x-wasmops-") and k not in _VARYING}
    return r.status_code, r.content, wasmops


@pytest.mark.parametrize("ok", [True, False])
def test_a_component_answers_as_the_same_core_module_does(served, ok):
    hp, client = served
    n = int(ok)
    _deploy(hp, client, f"comp-{n}", c.exits(ok))
    _deploy(hp, client, f"core-{n}", wat=CORE_EXITS.replace("STATUS", "0" if ok else "1"))
    comp, core = client.run("t", f"comp-{n}", b"x"), client.run("t", f"core-{n}", b"x")
    assert _shape(comp) == _shape(core)
    assert comp.status_code == (200 if ok else 502) and comp.content == b"bye"
    if not ok:
        assert comp.headers["x-wasmops-exit-code"] == "1"
        assert base64.b64decode(comp.headers["x-wasmops-stderr"]) == b"oops"
    assert int(comp.headers["x-wasmops-fuel"]) > 0 and comp.headers["x-wasmops-memory"] == "65536"


def test_stdin_is_the_request_body(served):
    hp, client = served
    _deploy(hp, client, "echo", c.echo())
    body = bytes(range(256)) * 100
    r = client.run("t", "echo", body)
    assert r.status_code == 200 and r.content == body


def test_the_deployments_limits_hold(served):
    hp, client = served
    _deploy(hp, client, "loop", c.loops(), fuel=1_000_000)
    r = client.run("t", "loop", b"")
    assert r.status_code != 200 and "out_of_fuel" in str(r.headers.get("x-wasmops-error")), r.headers
    _deploy(hp, client, "slow", c.loops(), fuel=10**13, timeout_ms=100)
    r = client.run("t", "slow", b"")
    assert "timeout" in str(r.headers.get("x-wasmops-error")), r.headers
    _deploy(hp, client, "grow", c.grows(64))
    r = client.run("t", "grow", b"")
    assert "memory_limit" in str(r.headers.get("x-wasmops-error")), r.headers


def test_admission_refuses_a_denied_capability_and_a_non_command(served):
    from wasmops.errors import WasmopsError

    hp, client = served
    for name, wasm, said in (("sock", c.with_sockets(), "wasi:sockets/network@0.2.0 is forbidden"),
                             ("http", c.http_handler(), "exports wasi:http/incoming-handler@0.2.0")):
        ref, digest = hp.ws.publish_wasm(name, wasm)
        with pytest.raises(WasmopsError) as e:
            client.deploy("t", name, ref=ref, digest=digest, limits=LIMITS, labels=LABELS)
        assert said in str(e.value), str(e.value)


def test_a_restart_loads_the_precompiled_component_and_metrics_bill_it(served):
    hp, client = served
    _deploy(hp, client, "echo", c.echo())
    hp.stop()
    client = hp.start(*hp.extra)
    assert client.run("t", "echo", b"again").content == b"again"
    stats = client._call("GET", "/admin/stats").json() if hasattr(client, "_call") else {}
    assert stats.get("compiles", 0) == 0, stats                                   # loaded from the cache
    text = client.metrics()
    for series, least in (("wasmops_fuel_consumed_total", 1), ("wasmops_memory_peak_bytes", 65536),
                          ("wasmops_cpu_seconds_total", 1e-9)):
        line = [ln for ln in text.splitlines() if ln.startswith(series + "{") and 'module="echo"' in ln]
        assert line and float(line[0].rsplit(" ", 1)[1]) >= least, (series, line)
