"""Prometheus metrics of the host, exact per module (counters are totals, not samples).

Labels: namespace, module, digest, team, project (the last two from the manifest's labels).

Series of a digest that stopped serving (replaced, its canary aborted, its module deleted) leave
``/metrics`` ``retention_s`` after that (``WASMOPS_HOST_METRICS_RETENTION_S``, default 1 h): a host
that has served thousands of releases renders the digests it serves and the last hour's, not every
digest it ever ran (each kept ~9 KiB of text and ~55 lines per scrape). The telemetry collector
scrapes every 60 s, so it has read a digest's last counts long before they go; a digest that comes
back later (a rollback) counts from zero, which the collector reads as a new series.

Probes (``X-Wasmops-Probe: 1`` with the host token: the release flow's verify, judge and canary
requests) are counted apart, in ``wasmops_probe_*`` series of the same shape (``_invocations``,
``_fuel_consumed``, ``_cpu_seconds``, the three histograms, ``_errors``): the per-module series that
telemetry, FinOps and the anomaly models read are the module's own traffic only.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

PROBE_PREFIX = "wasmops_probe"
LABELS = ("namespace", "module", "digest", "team", "project")
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MEMORY_BUCKETS = tuple(float(2**k) for k in range(16, 31))  # 64 KiB .. 1 GiB
FUEL_BUCKETS = tuple(float(10**k) for k in range(3, 11))


def expected(expect: bytes, result) -> bool:
    """Did the run end as ``X-Wasmops-Expect`` said: ``exit=N`` (exit code N) or a reason (``trap``)?"""
    e = expect.strip()
    if e.startswith(b"exit="):
        return e[5:].isdigit() and result.reason in (None, "exit_nonzero") and result.exit_code == int(e[5:])
    return result.reason is not None and e.decode("latin-1") == result.reason


class HostMetrics:
    def __init__(self, retention_s: float | None = None, clock=time.monotonic) -> None:
        self._clock = clock
        if retention_s is None:
            from wasmops.config import current
            retention_s = current().host_metrics_retention_s
        self.retention_s = retention_s
        self._live: set[tuple] = set()        # label values of what serves now (stable and canary)
        self._retired: dict[tuple, float] = {}  # label values -> monotonic time it stopped serving
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = RunTotals()
        r.register(self.runs)
        self.probe_runs = RunTotals(PROBE_PREFIX)
        r.register(self.probe_runs)
        self.probe_errors = Counter(f"{PROBE_PREFIX}_errors", "Failed probe runs by reason (not expected by "
                                    "their X-Wasmops-Expect); not the module's errors.", LABELS + ("reason",),
                                    registry=r)
        self.errors = Counter("wasmops_errors", "Failed invocations by reason.", LABELS + ("reason",), registry=r)
        self.peak_memory = Gauge("wasmops_memory_peak_bytes", "Largest linear memory seen in one invocation.",
                                 LABELS, registry=r)
        self.reserved = Gauge("wasmops_memory_reserved_bytes", "Memory limit × replicas of a deployment.",
                              LABELS, registry=r)
        self.deployed = Gauge("wasmops_module_deployed_timestamp_seconds", "When the live version was deployed.",
                              LABELS, registry=r)
        self.fuel_estimated = Counter("wasmops_fuel_estimated", "Fuel billed from CPU time because wasmtime did not "
                                      "report it (runs stopped by the timeout); part of wasmops_fuel_consumed.",
                                      LABELS, registry=r)
        self.integrity_failures = Counter("wasmops_integrity_failures", "Stored modules refused by the at-rest "
                                          "checks, by reason.", ("namespace", "module", "reason"), registry=r)
        self.admissions = Counter("wasmops_admissions", "Deploy requests by result.", ("namespace", "module", "result"),
                                  registry=r)
        self.shed = Counter("wasmops_requests_shed", "Run requests refused with 503 because the module's "
                            "concurrency limit and queue were full.", ("namespace", "module"), registry=r)
        self.expected = Counter("wasmops_expected_failures", "Runs that failed as their request said they would "
                                "(X-Wasmops-Expect: the release judge's probes of failing test cases); not errors.",
                                LABELS, registry=r)
        self._peaks: dict[tuple, int] = {}

    @staticmethod
    def labels_for(dep) -> tuple:
        return (dep.namespace, dep.name, dep.digest, dep.labels.get("team", ""), dep.labels.get("project", ""))

    def observe(self, dep, result, expect: bytes | None = None, probe: bool = False, lv: tuple | None = None) -> None:
        """Count one run: a ``probe`` only in the ``wasmops_probe_*`` series (not billed to the team).
        ``lv``: ``labels_for(dep)`` if the caller has it (``runtime.Live.labels``)."""
        if lv is None:
            lv = self.labels_for(dep)
        if probe:
            return self._observe_probe(lv, result, expect)
        self.runs.add(lv, result.fuel_used, result.duration_s, getattr(result, "cpu_s", 0.0), result.peak_memory)
        if getattr(result, "fuel_estimated", False):
            self.fuel_estimated.labels(*lv).inc(result.fuel_used)
        if result.peak_memory > self._peaks.get(lv, -1):
            self._peaks[lv] = result.peak_memory
            self.peak_memory.labels(*lv).set(result.peak_memory)
        if not result.ok:
            if expect is not None and expected(expect, result):
                self.expected.labels(*lv).inc()
            else:
                self.errors.labels(*lv, result.reason or "unknown").inc()

    def _observe_probe(self, lv: tuple, result, expect: bytes | None) -> None:
        self.probe_runs.add(lv, result.fuel_used, result.duration_s, getattr(result, "cpu_s", 0.0), result.peak_memory)
        if not result.ok:
            if expect is not None and expected(expect, result):
                self.expected.labels(*lv).inc()
            else:
                self.probe_errors.labels(*lv, result.reason or "unknown").inc()

    def deployed_module(self, dep, ts: float) -> None:
        lv = self.labels_for(dep)
        self._live.add(lv)
        self._retired.pop(lv, None)
        self.reserved.labels(*lv).set(dep.limits.memory * dep.replicas)
        self.deployed.labels(*lv).set(ts)

    def undeployed(self, dep) -> None:
        """The live gauges go away with the module; counters stay for ``retention_s`` (:meth:`expire`)."""
        lv = self.labels_for(dep)
        self._live.discard(lv)
        self._retired.setdefault(lv, self._clock())
        for g in (self.reserved, self.deployed):
            try:
                g.remove(*lv)
            except KeyError:
                pass

    def expire(self, now: float | None = None) -> None:
        """Forget the series of digests that stopped serving ``retention_s`` ago or more."""
        now = self._clock() if now is None else now
        for lv in [lv for lv, t in list(self._retired.items()) if now - t >= self.retention_s]:
            self._retired.pop(lv, None)
            self.runs.forget(lv)
            self.probe_runs.forget(lv)
            self._peaks.pop(lv, None)
            for family in (self.errors, self.probe_errors, self.expected, self.fuel_estimated, self.peak_memory):
                for key in [k for k in list(family._metrics) if k[:len(lv)] == lv]:   # (+ reason, for errors)
                    family.remove(*key)

    def keeps(self, labels: dict) -> bool:
        """Whether a sample with these labels (another process's: ``aggregate.Retired``) still belongs
        on ``/metrics``: not of a digest, or of one that serves or stopped less than ``retention_s`` ago."""
        if "digest" not in labels:
            return True
        lv = tuple(labels.get(k, "") for k in LABELS)
        return lv in self._live or lv in self._retired

    def render(self) -> bytes:
        self.expire()
        return generate_latest(self.registry)


class _Runs:
    """One deployment's run totals; histogram buckets are per bucket here, cumulative when collected."""

    __slots__ = ("lock", "created", "count", "fuel", "cpu", "fuel_b", "fuel_s", "lat_b", "lat_s", "mem_b", "mem_s")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.created = time.time()
        self.count, self.fuel, self.cpu = 0, 0, 0.0
        self.fuel_b, self.fuel_s = [0] * (len(FUEL_BUCKETS) + 1), 0
        self.lat_b, self.lat_s = [0] * (len(LATENCY_BUCKETS) + 1), 0.0
        self.mem_b, self.mem_s = [0] * (len(MEMORY_BUCKETS) + 1), 0


class RunTotals:
    """``wasmops_invocations``, ``_fuel_consumed``, ``_fuel_per_call``, ``_request_duration_seconds``,
    ``_cpu_seconds`` and ``_memory_bytes``: the same series ``prometheus_client``'s Counter and Histogram
    would give, updated under one lock per run (six labelled updates cost ~8 µs of a ~70 µs run; this
    ~2 µs). A collector: the registry renders it at scrape time."""

    def __init__(self, prefix: str = "wasmops") -> None:
        self.prefix = prefix            # ``wasmops_probe``: the same series for probes (PROBE_PREFIX)
        self._runs: dict[tuple, _Runs] = {}

    def add(self, lv: tuple, fuel: int, duration: float, cpu: float, memory: int) -> None:
        runs = self._runs.get(lv)
        if runs is None:
            runs = self._runs.setdefault(lv, _Runs())
        with runs.lock:
            runs.count += 1
            runs.fuel += fuel
            runs.cpu += cpu
            runs.fuel_b[bisect_left(FUEL_BUCKETS, fuel)] += 1
            runs.fuel_s += fuel
            runs.lat_b[bisect_left(LATENCY_BUCKETS, duration)] += 1
            runs.lat_s += duration
            runs.mem_b[bisect_left(MEMORY_BUCKETS, memory)] += 1
            runs.mem_s += memory

    def count(self) -> int:
        return sum(r.count for r in list(self._runs.values()))

    def forget(self, lv: tuple) -> None:
        self._runs.pop(lv, None)

    def describe(self):
        return []

    def collect(self):
        p = self.prefix
        inv = CounterMetricFamily(f"{p}_invocations", "Module invocations.", labels=LABELS)
        fuel = CounterMetricFamily(f"{p}_fuel_consumed", "Wasm fuel consumed (exact total).", labels=LABELS)
        cpu = CounterMetricFamily(f"{p}_cpu_seconds", "CPU time spent running the module (every run, also "
                                  "stopped ones).", labels=LABELS)
        hists = [(HistogramMetricFamily(f"{p}_fuel_per_call", "Fuel per invocation.", labels=LABELS),
                  FUEL_BUCKETS, "fuel_b", "fuel_s"),
                 (HistogramMetricFamily(f"{p}_memory_bytes", "Linear memory at the end of each invocation.",
                                        labels=LABELS), MEMORY_BUCKETS, "mem_b", "mem_s"),
                 (HistogramMetricFamily(f"{p}_request_duration_seconds", "Time spent running the module.",
                                        labels=LABELS), LATENCY_BUCKETS, "lat_b", "lat_s")]
        for lv, runs in list(self._runs.items()):
            with runs.lock:
                inv.add_metric(lv, runs.count, created=runs.created)
                fuel.add_metric(lv, runs.fuel, created=runs.created)
                cpu.add_metric(lv, runs.cpu, created=runs.created)
                for fam, bounds, b, total in hists:
                    fam.add_metric(lv, _cumulative(bounds, getattr(runs, b)), getattr(runs, total))
        yield from (inv, fuel, hists[0][0], hists[1][0], hists[2][0], cpu)


def _cumulative(bounds: tuple, counts: list) -> list:
    out, acc = [], 0
    for bound, n in zip((*bounds, float("inf")), counts):
        acc += n
        out.append((floatToGoString(bound), acc))
    return out
