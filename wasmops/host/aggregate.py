"""Exact ``/metrics`` across worker processes: an aggregating scrape.

Each worker (and the supervisor, which counts admissions and at-rest failures) sends a
``snapshot`` of its registry over the control channel; ``merge`` adds counters and histograms
sample by sample (same name, same labels), keeps the largest value of a gauge (the live gauges are
the same in every process; the peak-memory gauge is a maximum) and the earliest ``_created``.
The result is rendered with ``prometheus_client``, so it reads exactly like a single process's.

A worker that exits keeps counting: its last snapshot is folded into ``Retired`` (the supervisor
refreshes snapshots every ``REFRESH_S``, so a worker killed with SIGKILL loses at most that much).

    >>> from prometheus_client import CollectorRegistry, Counter
    >>> regs = [CollectorRegistry(), CollectorRegistry()]
    >>> for i, r in enumerate(regs):
    ...     Counter("calls", "Calls.", ["m"], registry=r).labels("a").inc(i + 2)
    >>> b"calls_total{m=\\"a\\"} 5.0" in render(merge([snapshot(r) for r in regs]))
    True
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric

REFRESH_S = 1.0
# gauges that describe what is deployed now: not carried over from a worker that exited
LIVE_GAUGES = ("wasmops_memory_reserved_bytes", "wasmops_module_deployed_timestamp_seconds")


def snapshot(registry: CollectorRegistry) -> list[dict]:
    """The registry's samples as JSON-able families."""
    out = []
    for m in registry.collect():
        out.append({"name": m.name, "type": m.type, "doc": m.documentation,
                    "samples": [[s.name, s.labels, s.value] for s in m.samples]})
    return out


def merge(snaps: list[list[dict]]) -> list[dict]:
    fams: dict[str, dict] = {}
    for snap in snaps:
        for fam in snap:
            into = fams.setdefault(fam["name"], {"name": fam["name"], "type": fam["type"], "doc": fam["doc"],
                                                 "values": {}})
            values = into["values"]
            gauge = fam["type"] == "gauge"
            for name, labels, value in fam["samples"]:
                key = (name, tuple(sorted(labels.items())))
                old = values.get(key)
                if old is None:
                    values[key] = value
                elif name.endswith("_created"):
                    values[key] = min(old, value)
                elif gauge:
                    values[key] = max(old, value)
                else:
                    values[key] = old + value
    return [{"name": f["name"], "type": f["type"], "doc": f["doc"],
             "samples": [[n, dict(lv), v] for (n, lv), v in f["values"].items()]} for f in fams.values()]


class _Families:
    def __init__(self, fams: list[dict]):
        self.fams = fams

    def collect(self):
        for f in self.fams:
            m = Metric(f["name"], f["doc"], f["type"])
            for name, labels, value in f["samples"]:
                m.add_sample(name, labels, value)
            yield m


def render(fams: list[dict]) -> bytes:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(_Families(fams))
    return generate_latest(reg)


class Retired:
    """What workers that have exited counted (counters, histograms, peak gauges)."""

    def __init__(self) -> None:
        self.fams: list[dict] = []

    def fold(self, snap: list[dict] | None) -> None:
        if not snap:
            return
        kept = [f for f in snap if f["name"] not in LIVE_GAUGES]
        self.fams = merge([self.fams, kept])

    def prune(self, keeps) -> None:
        """Drop the samples ``keeps(labels)`` says no longer belong (``HostMetrics.keeps``: digests that
        stopped serving longer ago than the retention)."""
        for f in self.fams:
            f["samples"] = [s for s in f["samples"] if keeps(s[1])]
        self.fams = [f for f in self.fams if f["samples"]]
