"""Scraping the host's /metrics into window samples: exact counts, quantiles, restarts, resets."""

from __future__ import annotations

import math
from types import SimpleNamespace

import httpx
import pandas as pd
import pytest

from support.host import HostProcess
from support.wat import FIXTURES
from wasmops.host.metrics import HostMetrics
from wasmops.telemetry import Collector, PrometheusQuery, Store, histogram_quantile, parse_metrics, schema

T0 = pd.Timestamp("2025-03-03T12:00:00Z")


def hostile_wat(name: str) -> str:
    return (FIXTURES / "hostile" / f"{name}.wat").read_text()


def rows_for(rows, module):
    found = [r for r in rows if r["module"] == module]
    assert len(found) == 1, f"expected one row for {module}, got {found}"
    return found[0]


def run_n(host, ns, name, n):
    fuel, mem = 0, []
    for _ in range(n):
        r = host.run(ns, name, b"{}")
        assert r.status_code == 200, r.text
        fuel += int(r.headers["x-wasmops-fuel"])
        mem.append(int(r.headers["x-wasmops-memory"]))
    return fuel, mem


def test_window_has_exact_invocations_fuel_and_live_attributes(host, deploy, tmp_path):
    digest = deploy("tm-scrape", pages=3, replicas=2,
                    labels={"team": "obs", "project": "tel", "cost_center": "cc-42"})
    col = Collector(Store(tmp_path / "t.db"), source=host.url)
    assert col.collect(host.metrics(), now=T0, modules=host.modules()) == []
    fuel, mem = run_n(host, "tel", "tm-scrape", 37)
    rows = col.collect(host.metrics(), now=T0 + pd.Timedelta(seconds=60), modules=host.modules())
    r = rows_for(rows, "tm-scrape")
    assert (r["namespace"], r["digest"], r["team"], r["project"], r["cost_center"]) == \
        ("tel", digest, "obs", "tel", "cc-42")
    assert r["invocations"] == 37 and r["errors"] == 0
    assert r["fuel"] == fuel and fuel > 0
    assert r["window_s"] == 60 and r["ts"] == T0 + pd.Timedelta(seconds=60)
    assert r["latency_p95_ms"] > 0 and r["latency_p50_ms"] <= r["latency_p95_ms"]
    assert r["fuel_p99_per_call"] > 0
    # 3 pages is not a power of two: the histogram bucket says <= 256 KiB, the gauge tightens it.
    assert r["peak_memory"] == max(mem) == 3 * 65536
    assert 0 < r["memory_p99"] <= r["peak_memory"]
    assert (r["memory_limit"], r["replicas"]) == (4 * 2**20, 2)
    assert col.store.count() == len(rows)
    stored = col.store.read(modules=["tm-scrape"])
    assert stored["invocations"].tolist() == [37] and stored["peak_memory"].tolist() == [3 * 65536]


def test_idle_live_module_gets_a_zero_row_and_errors_are_counted(host, deploy, tmp_path):
    deploy("tm-idle")
    deploy("tm-fail", wat=hostile_wat("exit7"))
    col = Collector(source="mem")
    col.collect(host.metrics(), now=T0, modules=host.modules())
    for _ in range(4):
        assert host.run("tel", "tm-fail", b"{}").status_code == 502
    rows = col.collect(host.metrics(), now=T0 + pd.Timedelta(minutes=5), modules=host.modules())
    idle, fail = rows_for(rows, "tm-idle"), rows_for(rows, "tm-fail")
    assert (idle["invocations"], idle["latency_p95_ms"], idle["peak_memory"]) == (0, 0.0, 0)
    assert idle["memory_limit"] == 4 * 2**20 and idle["window_s"] == 300
    assert (fail["invocations"], fail["errors"]) == (4, 4)


def test_collector_restarted_on_the_same_store_continues_the_window(host, deploy, tmp_path):
    deploy("tm-restart")
    Collector(Store(tmp_path / "t.db"), source="h").collect(host.metrics(), now=T0, modules=host.modules())
    fuel, _ = run_n(host, "tel", "tm-restart", 11)
    fresh = Collector(Store(tmp_path / "t.db"), source="h")  # a new process: nothing in memory
    r = rows_for(fresh.collect(host.metrics(), now=T0 + pd.Timedelta(seconds=30)), "tm-restart")
    assert (r["invocations"], r["fuel"], r["window_s"]) == (11, fuel, 30)
    # Replaying an old scrape time neither adds rows nor moves the snapshot.
    assert fresh.collect(host.metrics(), now=T0) == []
    assert fresh.store.snapshot("h")[0] == (T0 + pd.Timedelta(seconds=30)).value


def test_real_samples_pass_the_telemetry_suite(host, deploy):
    from wasmops.telemetry import validate

    deploy("tm-valid")
    col = Collector(source="v")
    now = pd.Timestamp.now(tz="UTC")
    col.collect(host.metrics(), now=now - pd.Timedelta(seconds=10), modules=host.modules())
    run_n(host, "tel", "tm-valid", 5)
    df = schema.to_frame(col.collect(host.metrics(), now=now, modules=host.modules()))
    out = validate(df, freshness_minutes=5, now=now)
    assert out.success, out.to_markdown()


def test_host_restart_is_a_counter_reset(workspace):
    hp = HostProcess(workspace)
    client = hp.start()
    try:
        ref, digest = workspace.publish_wat("tm-reset", hostile_wat("ok"))
        client.deploy("tel", "tm-reset", ref=ref, digest=digest)
        col = Collector(source="r")
        col.collect(client.metrics(), now=T0, modules=client.modules())
        run_n(client, "tel", "tm-reset", 10)
        assert rows_for(col.collect(client.metrics(), now=T0 + pd.Timedelta(seconds=10)), "tm-reset")["invocations"] == 10
        hp.stop("kill")
        client = hp.start()
        fuel, _ = run_n(client, "tel", "tm-reset", 3)
        r = rows_for(col.collect(client.metrics(), now=T0 + pd.Timedelta(seconds=20)), "tm-reset")
        assert (r["invocations"], r["fuel"]) == (3, fuel)  # counters went 10 -> 3: the new value is the delta
        hp.stop("kill")
        client = hp.start()           # found from outside: a new counter that climbed past the stored 3
        fuel, _ = run_n(client, "tel", "tm-reset", 5)
        r = rows_for(col.collect(client.metrics(), now=T0 + pd.Timedelta(seconds=30)), "tm-reset")
        assert (r["invocations"], r["fuel"]) == (5, fuel)  # not 5 - 3: the series' _created moved
    finally:
        hp.stop()


# -- units over the host's own metric registry (exact exposition format, no process) --------------
def _dep(name="m", digest="sha256:" + "a" * 64):
    return SimpleNamespace(namespace="ns", name=name, digest=digest, labels={"team": "t", "project": "p"},
                           limits=SimpleNamespace(memory=2**20), replicas=1)


def _res(fuel=1000, dur=0.002, mem=65536, ok=True, reason=None):
    return SimpleNamespace(fuel_used=fuel, duration_s=dur, peak_memory=mem, ok=ok, reason=reason)


def test_counter_reset_takes_the_new_value_as_the_delta():
    m, dep = HostMetrics(), _dep()
    m.deployed_module(dep, 0)
    for _ in range(50):
        m.observe(dep, _res())
    col = Collector()
    col.collect(m.render().decode(), now=T0)
    m2 = HostMetrics()  # the host restarted: fresh counters
    m2.deployed_module(dep, 0)
    for _ in range(7):
        m2.observe(dep, _res(fuel=10))
    m2.observe(dep, _res(fuel=0, ok=False, reason="timeout"))
    (r,) = col.collect(m2.render().decode(), now=T0 + pd.Timedelta(seconds=60))
    assert (r["invocations"], r["errors"], r["fuel"]) == (8, 1, 70)
    assert r["memory_limit"] == 2**20 and r["peak_memory"] == 65536


def test_quantiles_come_from_the_window_delta_not_the_totals():
    m, dep = HostMetrics(), _dep()
    m.deployed_module(dep, 0)
    for _ in range(1000):
        m.observe(dep, _res(dur=0.0004))  # a fast history...
    col = Collector()
    col.collect(m.render().decode(), now=T0)
    for _ in range(10):
        m.observe(dep, _res(dur=0.3, fuel=5_000_000))  # ...then a slow window
    (r,) = col.collect(m.render().decode(), now=T0 + pd.Timedelta(seconds=60))
    assert r["invocations"] == 10
    assert 250 < r["latency_p50_ms"] <= 500 and 250 < r["latency_p95_ms"] <= 500
    assert 1e6 < r["fuel_p99_per_call"] <= 1e7


def test_a_version_no_longer_live_keeps_its_last_limit():
    m, old, new = HostMetrics(), _dep(digest="sha256:" + "a" * 64), _dep(digest="sha256:" + "b" * 64)
    m.deployed_module(old, 0)
    col = Collector()
    col.collect(m.render().decode(), now=T0)
    for _ in range(3):
        m.observe(old, _res())
    m.undeployed(old)
    m.deployed_module(new, 0)
    rows = col.collect(m.render().decode(), now=T0 + pd.Timedelta(seconds=60))
    by = {r["digest"][-1]: r for r in rows}
    assert by["a"]["invocations"] == 3 and by["a"]["memory_limit"] == 2**20
    assert by["b"]["invocations"] == 0


def test_histogram_quantile_matches_promql():
    b = [(1.0, 10.0), (2.0, 20.0), (4.0, 20.0), (math.inf, 20.0)]
    assert histogram_quantile(0.5, b) == 1.0
    assert histogram_quantile(0.75, b) == 1.5
    assert histogram_quantile(0.99, [(1.0, 0.0), (math.inf, 5.0)]) == 1.0  # in +Inf: the last finite bound
    assert math.isnan(histogram_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]))


def test_parse_metrics_sums_relabelled_series():
    text = ('wasmops_invocations_total{namespace="n",module="m",digest="d",team="a",project="p"} 3.0\n'
            'wasmops_invocations_total{namespace="n",module="m",digest="d",team="b",project="p"} 4.0\n')
    assert parse_metrics(text)[("n", "m", "d")]["invocations"] == 7.0


def test_prometheus_query_builds_rows_from_promql():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        q = request.url.params["query"]
        seen.append(q)
        metric = {"namespace": "n", "module": "m", "digest": "d", "team": "t", "project": "p"}
        val = {"wasmops_invocations_total": 120.4, "wasmops_errors_total": 2, "wasmops_fuel_consumed_total": 5e6,
               "wasmops_request_duration_seconds": 0.004, "wasmops_fuel_per_call": 9e4,
               "wasmops_memory_bytes": 65536, "wasmops_memory_peak_bytes": 65536,
               "wasmops_memory_reserved_bytes": 3 * 2**20}
        v = next(x for k, x in val.items() if k in q)
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": metric, "value": [0, str(v)]}]}})

    pq = PrometheusQuery("http://prom", http=httpx.Client(base_url="http://prom", transport=httpx.MockTransport(handler)))
    (r,) = pq.collect(300, now=T0, modules=[{"namespace": "n", "name": "m", "digest": "d", "replicas": 3,
                                             "labels": {"cost_center": "cc-1"}}])
    assert any("increase(wasmops_invocations_total[300s])" in q for q in seen)
    assert any(q.startswith("histogram_quantile(0.95") for q in seen)
    assert (r["invocations"], r["errors"], r["fuel"], r["memory_limit"], r["replicas"]) == (120, 2, 5_000_000, 2**20, 3)
    assert r["latency_p95_ms"] == pytest.approx(4.0) and r["cost_center"] == "cc-1"
    assert schema.check_dtypes(schema.to_frame([r])) == []


def test_a_clock_that_jumped_ahead_and_back_does_not_stop_collection(tmp_path):
    # Found from outside: after one scrape stamped an hour ahead, every later scrape stored 0 samples
    # for that hour, silently. Now the future samples are reported as quarantined, and a clock that
    # went back restarts the snapshot (said in ``note``), so the next scrape collects again.
    lab = 'namespace="n",module="m",digest="d",team="a",project="p"'

    def text(n):
        return f"wasmops_invocations_total{{{lab}}} {n}\nwasmops_fuel_consumed_total{{{lab}}} {n * 100}\n"

    store = Store(tmp_path / "t.db")
    col = Collector(store, source="h")
    t = pd.Timestamp.now(tz="UTC").floor("min")
    assert col.collect(text(1), now=t - pd.Timedelta("2min")) == [] and col.note is None
    assert len(col.collect(text(5), now=t + pd.Timedelta("1h"))) == 1
    assert "quarantined" in col.note and store.count() == 0
    assert col.collect(text(9), now=t) == [] and "clock is 3600 s behind" in col.note
    [row] = col.collect(text(12), now=t + pd.Timedelta("15s"))
    assert row["invocations"] == 3 and col.note is None and store.count() == 1


def test_down_scrapes_the_host_before_it_stops(workspace, monkeypatch):
    """Found from outside: requests served between the last scrape and `wasmops down` were never
    billed (the host's counters die with it). `down` scrapes first."""
    from wasmops.cli.ops import _last_scrape
    from wasmops.host.client import HostClient

    hp = HostProcess(workspace)
    client = hp.start()
    try:
        ref, digest = workspace.publish_wat("tm-down", hostile_wat("ok"))
        client.deploy("tel", "tm-down", ref=ref, digest=digest)
        monkeypatch.setenv("WASMOPS_HOME", str(workspace.home))
        monkeypatch.setenv("WASMOPS_HOST_URL", client.url)
        from wasmops.config import current

        source = HostClient.from_workspace(current()).url          # the URL `down` scrapes
        Collector(Store.open(workspace.settings), source=source).collect(client.metrics(), modules=client.modules())
        run_n(client, "tel", "tm-down", 4)
        _last_scrape()
        df = Store.open(workspace.settings).read()
        assert int(df[df["module"] == "tm-down"]["invocations"].sum()) == 4
    finally:
        hp.stop()
