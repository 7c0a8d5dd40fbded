"""Prometheus metrics of the host, exact per module (counters are totals, not samples).

Labels: namespace, module, digest, team, project (the last two from the manifest's labels).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LABELS = ("namespace", "module", "digest", "team", "project")
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MEMORY_BUCKETS = tuple(float(2**k) for k in range(16, 31))  # 64 KiB .. 1 GiB
FUEL_BUCKETS = tuple(float(10**k) for k in range(3, 11))


class HostMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.invocations = Counter("wasmops_invocations", "Module invocations.", LABELS, registry=r)
        self.errors = Counter("wasmops_errors", "Failed invocations by reason.", LABELS + ("reason",), registry=r)
        self.fuel = Counter("wasmops_fuel_consumed", "Wasm fuel consumed (exact total).", LABELS, registry=r)
        self.fuel_per_call = Histogram("wasmops_fuel_per_call", "Fuel per invocation.", LABELS,
                                       buckets=FUEL_BUCKETS, registry=r)
        self.peak_memory = Gauge("wasmops_memory_peak_bytes", "Largest linear memory seen in one invocation.",
                                 LABELS, registry=r)
        self.memory = Histogram("wasmops_memory_bytes", "Linear memory at the end of each invocation.", LABELS,
                                buckets=MEMORY_BUCKETS, registry=r)
        self.latency = Histogram("wasmops_request_duration_seconds", "Time spent running the module.", LABELS,
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.reserved = Gauge("wasmops_memory_reserved_bytes", "Memory limit × replicas of a deployment.",
                              LABELS, registry=r)
        self.deployed = Gauge("wasmops_module_deployed_timestamp_seconds", "When the live version was deployed.",
                              LABELS, registry=r)
        self.cpu = Counter("wasmops_cpu_seconds", "CPU time spent running the module (every run, also stopped ones).",
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
        self._peaks: dict[tuple, int] = {}
        self._bundles: dict[tuple, tuple] = {}

    @staticmethod
    def labels_for(dep) -> tuple:
        return (dep.namespace, dep.name, dep.digest, dep.labels.get("team", ""), dep.labels.get("project", ""))

    def _children(self, lv: tuple) -> tuple:
        """The labelled children of one deployment, made once: ``labels()`` costs more than the update."""
        ch = self._bundles.get(lv)
        if ch is None:
            ch = self._bundles[lv] = tuple(m.labels(*lv) for m in (
                self.invocations, self.fuel, self.fuel_per_call, self.latency, self.cpu, self.memory))
        return ch

    def observe(self, dep, result) -> None:
        lv = self.labels_for(dep)
        invocations, fuel, fuel_per_call, latency, cpu, memory = self._children(lv)
        invocations.inc()
        fuel.inc(result.fuel_used)
        fuel_per_call.observe(result.fuel_used)
        latency.observe(result.duration_s)
        cpu.inc(result.cpu_s)
        if result.fuel_estimated:
            self.fuel_estimated.labels(*lv).inc(result.fuel_used)
        memory.observe(result.peak_memory)
        if result.peak_memory > self._peaks.get(lv, -1):
            self._peaks[lv] = result.peak_memory
            self.peak_memory.labels(*lv).set(result.peak_memory)
        if not result.ok:
            self.errors.labels(*lv, result.reason or "unknown").inc()

    def deployed_module(self, dep, ts: float) -> None:
        lv = self.labels_for(dep)
        self.reserved.labels(*lv).set(dep.limits.memory * dep.replicas)
        self.deployed.labels(*lv).set(ts)

    def undeployed(self, dep) -> None:
        """The live gauges go away with the module; counters stay (they are history)."""
        lv = self.labels_for(dep)
        for g in (self.reserved, self.deployed):
            try:
                g.remove(*lv)
            except KeyError:
                pass

    def render(self) -> bytes:
        return generate_latest(self.registry)
