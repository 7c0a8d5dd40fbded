"""A long-lived host stays bounded: the series of digests that stopped serving leave /metrics after the
retention, and stored blobs and precompiled modules of digests nothing names are deleted.

Before, every digest a host ever ran kept ~55 lines of /metrics (1.4 MB after 150 deploys of 10 modules)
and its blob and precompiled module on disk for good."""

from __future__ import annotations

import types

import pytest
import wasmtime
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from support.host import HostProcess, make_workspace

from wasmops.host.aggregate import Retired, merge, render, snapshot
from wasmops.host.metrics import HostMetrics


def _dep(module: str, digest: str, team: str = "t"):
    return types.SimpleNamespace(namespace="ns", name=module, digest=digest, labels={"team": team, "project": "p"},
                                 limits=types.SimpleNamespace(memory=2**20), replicas=1)


def _run(ok: bool):
    return types.SimpleNamespace(fuel_used=100, duration_s=0.001, cpu_s=0.001, peak_memory=65536, ok=ok,
                                 reason=None if ok else "exit_nonzero", exit_code=0 if ok else 3)


def _series(text: str) -> set[tuple[str, str]]:
    """(module, digest) of every sample on a /metrics page that has a digest."""
    return {(s.labels["module"], s.labels["digest"]) for fam in text_string_to_metric_families(text)
            for s in fam.samples if "digest" in s.labels}


def _digests_on(text: str) -> set[str]:
    return {d for _, d in _series(text)}


# Each step: (module index, digest index, what): deploy that digest as the module's stable one, run it
# (ok or failing), or delete the module; the clock moves by `dt` seconds after each step.
_steps = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 5), st.sampled_from(["deploy", "ok", "fail", "delete"]),
                            st.integers(0, 40)), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(steps=_steps, retention=st.sampled_from([0, 30, 100]))
def test_metrics_keep_what_serves_and_what_stopped_within_the_retention(steps, retention):
    clock = [0.0]
    m = HostMetrics(retention_s=retention, clock=lambda: clock[0])
    live, stopped = {}, {}                 # module -> digest; (module, digest) -> when it stopped serving

    def stop(module):
        m.undeployed(_dep(module, live[module]))
        stopped.setdefault((module, live.pop(module)), clock[0])

    for mod, dig, what, dt in steps:
        module, digest = f"m{mod}", f"sha256:{dig}"
        if what == "deploy" and live.get(module) != digest:
            if module in live:
                stop(module)
            m.deployed_module(_dep(module, digest), clock[0])
            live[module] = digest
            stopped.pop((module, digest), None)
        elif what in ("ok", "fail") and module in live:
            m.observe(_dep(module, live[module]), _run(what == "ok"))
        elif what == "delete" and module in live:
            stop(module)
        clock[0] += dt
    text = m.render().decode()
    shown = _series(text)
    recent = {k for k, t in stopped.items() if clock[0] - t < retention}
    assert set(live.items()) <= shown                    # what serves is always there (its live gauges)
    assert shown <= set(live.items()) | recent, shown - set(live.items()) - recent


def test_a_dead_workers_counts_of_a_stopped_digest_go_with_the_retention():
    sup = HostMetrics(retention_s=60)
    worker = HostMetrics(retention_s=60)
    old, new = _dep("m", "sha256:old"), _dep("m", "sha256:new")
    for x in (sup, worker):
        x.deployed_module(old, 0)
    worker.observe(old, _run(False))
    retired = Retired()
    retired.fold(snapshot(worker.registry))          # that worker exited, its counts folded in
    for x in (sup,):
        x.undeployed(old)
        x.deployed_module(new, 0)
    retired.prune(sup.keeps)
    assert "sha256:old" in _digests_on(render(merge([retired.fams])).decode())    # within the retention: kept
    sup.expire(now=10**9)
    retired.prune(sup.keeps)
    assert "sha256:old" not in _digests_on(render(merge([retired.fams])).decode())


# A module written for this test: exits with the first byte of its input minus '0' (so "0" is success
# and "3" is exit 3); the digest differs per `salt` (a data segment nobody reads).
def _wasm(salt: int) -> bytes:
    return wasmtime.wat2wasm(f"""(module
      (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (data (i32.const 512) "salt {salt}")
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 1))
        (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
        (if (i32.eqz (i32.load (i32.const 8))) (then (return)))
        (call $exit (i32.sub (i32.load8_u (i32.const 64)) (i32.const 48)))))""")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_host_after_many_releases_shows_and_stores_only_what_serves(tmp_path, monkeypatch, workers):
    from wasmops.telemetry import Collector

    monkeypatch.setenv("WASMOPS_HOST_METRICS_RETENTION_S", "0")
    ws = make_workspace(tmp_path / "ws")
    hp = HostProcess(ws)
    client = hp.start("--workers", workers)
    col, runs, digests = Collector(None, source=client.url), 0, []
    limits = {"fuel": 10_000_000, "memory": "2Mi", "timeout_ms": 2000}
    try:
        col.collect(client.metrics())
        for i in range(14):
            ref, digest = ws.publish_wasm(f"v{i}", _wasm(i))
            client.deploy("team", "svc", ref=ref, digest=digest, limits=limits)
            digests.append(digest)
            for body in ("0", "0", "3"):
                client.run("team", "svc", body)
                runs += 1
            rows = col.collect(client.metrics(), modules=client.modules())
            assert sum(r["invocations"] for r in rows) == 3 and sum(r["errors"] for r in rows) == 1
        text = client.metrics()
        assert _digests_on(text) == {digests[-1]}, _digests_on(text) - {digests[-1]}
        blobs = sorted(p.name for p in (ws.home / "host" / "blobs").iterdir())
        assert len(blobs) == 2 and all(b.startswith(blobs[0].split(".")[0]) for b in blobs), blobs  # .wasm + bundle
        compiled = list(ws.settings.compile_cache.glob("*.cwasm"))
        assert 1 <= len(compiled) <= 1 + 8, compiled                   # the one serving + 8 spare, of 14

        ref, _ = ws.publish_wasm("v3", _wasm(3))                        # a rollback to a pruned digest
        client.deploy("team", "svc", ref=ref, digest=digests[3], limits=limits)
        assert client.run("team", "svc", "0").status_code == 200
        rows = col.collect(client.metrics(), modules=client.modules())
        assert [(r["digest"], r["invocations"]) for r in rows if r["invocations"]] == [(digests[3], 1)]
    finally:
        hp.stop()
