"""Samples from the host's Prometheus ``/metrics``: two consecutive scrapes make one window.

    >>> import tempfile
    >>> from pathlib import Path
    >>> from wasmops.telemetry import Collector, Store
    >>> def metrics(calls, fuel):                   # what ``hc.metrics()`` returns, cut to three series
    ...     lb = 'namespace="dev",module="greet-c",digest="sha256:aa",team="core",project="web"'
    ...     return (f"wasmops_invocations_total{{{lb}}} {calls}\\n"
    ...             f"wasmops_fuel_consumed_total{{{lb}}} {fuel}\\n"
    ...             f'wasmops_errors_total{{{lb},reason="trap"}} 1\\n')
    >>> col = Collector(Store(Path(tempfile.mkdtemp()) / "telemetry.db"), source="http://127.0.0.1:8700")
    >>> col.collect(metrics(10, 5000), now="2025-03-03T12:00:00Z")   # the first scrape only records the snapshot
    []
    >>> (row,) = col.collect(metrics(35, 17500), now="2025-03-03T12:01:00Z")
    >>> str(row["ts"]), row["window_s"], row["module"], row["invocations"], row["errors"], row["fuel"]
    ('2025-03-03 12:01:00+00:00', 60.0, 'greet-c', 25, 0, 12500)
    >>> col.store.count()
    1

From a running host: ``col.collect(hc.metrics(), modules=hc.modules())`` with
``hc = HostClient.from_workspace()`` (``scrape_host(hc, col)`` does just that).

How each column is made, for the window ``(previous scrape, now]`` of one
``(namespace, module, digest)`` series:

* ``invocations``, ``errors`` (all reasons), ``fuel``: deltas of the exact host counters.
* ``latency_p50_ms``/``latency_p95_ms``, ``fuel_p99_per_call``, ``memory_p99``: quantiles of the
  *delta* of the histogram buckets, interpolated linearly inside a bucket exactly like PromQL's
  ``histogram_quantile`` (0.0 for a window without calls). ``memory_p99`` is capped at
  ``peak_memory``, which interpolation inside a wide power-of-two bucket could otherwise exceed.
* ``peak_memory``: the upper bound of the highest memory-histogram bucket that got an
  observation in this window, tightened by the ``wasmops_memory_peak_bytes`` gauge (the largest
  memory since the host started, so never below the window's peak) and by the memory limit.
  It is exact when a module's memory is a power of two or is its all-time peak; otherwise an
  upper bound within a factor of two. 0 for a window without calls.
* ``memory_limit``: ``wasmops_memory_reserved_bytes / replicas``; ``replicas`` and
  ``cost_center`` (label ``cost_center`` or ``cost-center``) come from ``/admin/modules`` when
  given, else 1 and ``""``. A version no longer live keeps its last known limit.

A row is emitted for every live series (even idle: idle time costs money) and for every series
with calls or errors in the window. The cumulative snapshot is stored with the window's rows in
one transaction, so a collector restarted on the same store continues the windows exactly.
A counter that went down means the host restarted: as in Prometheus, the new value is taken as
the delta (calls between the last scrape and the restart are lost). A series that disappears
(restart) is dropped from the snapshot; when it comes back it counts from zero.

``PrometheusQuery`` gets the same columns from a Prometheus server with ``increase(...)`` over
the window, for hosts that Prometheus scrapes (``$WASMOPS_PROMETHEUS_URL``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping

import httpx
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from ..errors import TransientError, UserError
from .schema import CLOCK_SKEW, to_frame
from .store import Store

HISTOGRAMS = {"latency": "wasmops_request_duration_seconds", "fuel_per_call": "wasmops_fuel_per_call",
              "memory": "wasmops_memory_bytes"}
_COUNTERS = {"wasmops_invocations": "invocations", "wasmops_fuel_consumed": "fuel"}
#: The run series that ``parse_metrics`` reads (``probes``: the host's ``wasmops_probe_*`` twins, the release
#: flow's probes, which are not the module's traffic and not billed to its team).
_SERIES = {False: "wasmops_", True: "wasmops_probe_"}


def _names(probes: bool) -> tuple[dict, dict, str, str]:
    """(counters, histograms by name, errors sample, created sample) of the team's or the probes' series."""
    pre = _SERIES[probes]
    swap = lambda n: pre + n.removeprefix("wasmops_")  # noqa: E731
    return ({swap(k): v for k, v in _COUNTERS.items()}, {swap(v): k for k, v in HISTOGRAMS.items()},
            swap("wasmops_errors_total"), swap("wasmops_invocations_created"))


def _empty() -> dict:
    return {"invocations": 0.0, "fuel": 0.0, "errors": {}, "hist": {k: {} for k in HISTOGRAMS},
            "team": "", "project": "", "reserved": None, "peak": None, "created": None}


def parse_metrics(text: str, probes: bool = False) -> dict[tuple[str, str, str], dict]:
    """Prometheus text → per ``(namespace, module, digest)`` cumulative state::

        {"invocations": float, "fuel": float, "errors": {reason: float},
         "hist": {"latency"|"fuel_per_call"|"memory": {le: cumulative count}},
         "team": str, "project": str, "reserved": float|None, "peak": float|None}

    Series of one key with different team/project labels (a relabelled deployment) are summed.
    ``probes``: the ``wasmops_probe_*`` series instead (the team's peak-memory gauge, which probes do not
    move, is not read then).
    """
    counters, hists, errors, created = _names(probes)
    out: dict[tuple, dict] = defaultdict(_empty)
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            lb = s.labels
            if "module" not in lb or "digest" not in lb:
                continue
            key = (lb.get("namespace", ""), lb["module"], lb["digest"])
            st = out[key]
            name = s.name  # sample names, so an untyped exposition (no # TYPE lines) parses the same
            if name.endswith("_total") and name[:-6] in counters:
                st[counters[name[:-6]]] += s.value
            elif name == errors:
                reason = lb.get("reason", "unknown")
                st["errors"][reason] = st["errors"].get(reason, 0.0) + s.value
            elif name.endswith("_bucket") and name[:-7] in hists:
                h = st["hist"][hists[name[:-7]]]
                h[lb["le"]] = h.get(lb["le"], 0.0) + s.value
            elif name == "wasmops_memory_reserved_bytes":
                st["reserved"] = s.value
            elif name == "wasmops_memory_peak_bytes" and not probes:
                st["peak"] = max(st["peak"] or 0.0, s.value)
            elif name == created:      # when the host started counting this series
                st["created"] = s.value if st["created"] is None else min(st["created"], s.value)
                continue
            else:
                continue
            if name == "wasmops_memory_reserved_bytes" or not st["team"]:
                st["team"], st["project"] = lb.get("team", ""), lb.get("project", "")
    return dict(out)


def digest_counts(text: str, namespace: str, name: str) -> dict[str, tuple[float, float]]:
    """Per digest of ``namespace/name``: cumulative (calls, errors) in a /metrics scrape (a canary
    step's live error check, ``wasmops.ai.live_errors``)."""
    return {d: (st["invocations"], sum(st["errors"].values()))
            for (ns, mod, d), st in parse_metrics(text).items() if (ns, mod) == (namespace, name)}


def _le(s: str) -> float:
    return math.inf if s in ("+Inf", "Inf", "inf") else float(s)


def _buckets(h: Mapping[str, float]) -> list[tuple[float, float]]:
    return sorted((_le(k), v) for k, v in h.items())


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """PromQL's ``histogram_quantile`` over cumulative ``(upper bound, count)`` pairs; NaN when empty."""
    if not buckets or not math.isinf(buckets[-1][0]):
        return math.nan
    total = buckets[-1][1]
    if total <= 0 or len(buckets) < 2:
        return math.nan
    rank = q * total
    b = next(i for i, (_, c) in enumerate(buckets) if c >= rank)
    if b == len(buckets) - 1:
        return buckets[-2][0]
    upper, count = buckets[b]
    if b == 0 and upper <= 0:
        return upper
    lower, prev = (0.0, 0.0) if b == 0 else buckets[b - 1]
    count -= prev
    rank -= prev
    return lower + (upper - lower) * (rank / count) if count > 0 else upper


def _delta_hist(cur: Mapping[str, float], prev: Mapping[str, float]) -> list[tuple[float, float]]:
    return _buckets({le: v - prev.get(le, 0.0) for le, v in cur.items()})


def _is_reset(cur: dict, prev: dict) -> bool:
    """A host restart: the series was created again (``wasmops_invocations_created`` moved: a counter
    that restarted from zero and already climbed past its last stored value went unnoticed, and that
    value was subtracted from the new counts), or some cumulative value went down."""
    was, now = prev.get("created"), cur.get("created")
    if was is not None and now is not None and now > was:
        return True
    if cur["invocations"] < prev["invocations"] or cur["fuel"] < prev["fuel"]:
        return True
    if any(v < prev["errors"].get(r, 0.0) for r, v in cur["errors"].items()):
        return True
    return any(v < prev["hist"].get(name, {}).get(le, 0.0)
               for name, h in cur["hist"].items() for le, v in h.items())


def _max_occupied(b: list[tuple[float, float]]) -> float | None:
    prev = 0.0
    top = None
    for upper, c in b:
        if c - prev > 0:
            top = upper
        prev = c
    return top


def _q(q: float, b: list[tuple[float, float]], scale: float = 1.0) -> float:
    v = histogram_quantile(q, b)
    return 0.0 if math.isnan(v) else v * scale


def _live_index(modules: Iterable[Mapping] | None) -> dict[tuple[str, str], Mapping]:
    return {(m.get("namespace", ""), m.get("name", "")): m for m in (modules or [])}


def _cost_center(labels: Mapping[str, str]) -> str:
    return labels.get("cost_center") or labels.get("cost-center") or ""


def _ts(now) -> pd.Timestamp:
    if now is None:
        return pd.Timestamp.now(tz="UTC").as_unit("ns")
    t = pd.Timestamp(now, unit="s") if isinstance(now, (int, float)) else pd.Timestamp(now)
    return (t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")).as_unit("ns")


class Collector:
    """Turns consecutive scrapes of one host into window samples, persisting its snapshot.

    ``store``: where rows and the snapshot go (``None``: keep the snapshot in memory and store
    nothing). ``source`` names the scraped host so one store can serve several. ``probes``: rows of
    the release flow's probes (``wasmops_probe_*``) instead of the modules' own traffic: the release
    judge's telemetry check, never the team's store.
    """

    def __init__(self, store: Store | None = None, source: str = "host", *, probes: bool = False):
        if probes and store is not None:
            raise ValueError("probe rows are not the modules' telemetry: a probes Collector stores nothing")
        self.store = store
        self.source = source
        self.probes = probes
        self._mem: tuple[int, dict] | None = None
        self.note: str | None = None     # what the last scrape did that a person should know (clock skew)

    def _snapshot(self) -> tuple[int, dict] | None:
        return self.store.snapshot(self.source) if self.store is not None else self._mem

    def collect(self, metrics_text: str, now=None, modules: Iterable[Mapping] | None = None) -> list[dict]:
        """One scrape: returns the rows of the window since the previous scrape (stored, when the
        collector has a store). The first scrape returns ``[]``; so does a scrape whose ``now`` is
        not after the previous one (the snapshot is then left alone: a collector racing another), unless
        the snapshot itself lies in the future (beyond the clock-skew allowance of the wall clock: it
        was taken by a clock that ran ahead): then the snapshot restarts here, else nothing would be
        collected until the clock caught up with it. ``note`` says so, as it does for samples
        quarantined as future rows."""
        ts = _ts(now)
        cur = parse_metrics(metrics_text, self.probes)
        live = _live_index(modules)
        snap = self._snapshot()
        self.note = None
        if snap is not None and ts.value <= snap[0]:
            if snap[0] > _ts(None).value + CLOCK_SKEW.value:
                self.note = (f"the clock is {(snap[0] - ts.value) / 1e9:.0f} s behind the previous scrape (a skewed "
                             "clock?): collection restarts from this scrape; the time in between is not sampled")
                self._commit([], ts, {"series": {"\x1f".join(k): v for k, v in cur.items()}})
            return []
        prev_series = {tuple(k.split("\x1f")): v for k, v in snap[1]["series"].items()} if snap else {}
        rows = []
        for key, st in sorted(cur.items()):
            info = live.get(key[:2])
            same = info is not None and info.get("digest") == key[2]
            old = prev_series.get(key)
            replicas = int(info.get("replicas", 1)) if same else int((old or {}).get("replicas", 1))
            st["replicas"] = replicas
            st["memory_limit"] = _memory_limit(st, info if same else None, replicas, old)
            st["cost_center"] = _cost_center(info.get("labels", {})) if info else (old or {}).get("cost_center", "")
            if snap is None:
                continue
            base = old if old is not None and not _is_reset(st, old) else _empty()
            row = _window_row(key, st, base, ts, (ts.value - snap[0]) / 1e9)   # exact: billed as is
            if st["reserved"] is not None or row["invocations"] > 0 or row["errors"] > 0:
                rows.append(row)
        self._commit(rows, ts, {"series": {"\x1f".join(k): v for k, v in cur.items()}})
        return rows

    def _commit(self, rows: list[dict], ts: pd.Timestamp, state: dict) -> None:
        if self.store is None:
            self._mem = (ts.value, state)
            return
        stored = self.store.commit_window(to_frame(rows), self.source, ts.value, state)
        if stored < len(rows):
            self.note = (f"{len(rows) - stored} of {len(rows)} samples are stamped in the future (a skewed clock?) "
                         "and were quarantined, not stored")


def _memory_limit(st: dict, info: Mapping | None, replicas: int, old: dict | None) -> int:
    if st["reserved"] is not None and replicas > 0:
        return int(round(st["reserved"] / replicas))
    if info is not None and "limits" in info:
        return int(info["limits"].get("memory", 0))
    return int((old or {}).get("memory_limit", 0))


def _window_row(key: tuple, st: dict, base: dict, ts: pd.Timestamp, window_s: float) -> dict:
    inv = int(round(st["invocations"] - base["invocations"]))
    errs = int(round(sum(v - base["errors"].get(r, 0.0) for r, v in st["errors"].items())))
    lat = _delta_hist(st["hist"]["latency"], base["hist"].get("latency", {}))
    fpc = _delta_hist(st["hist"]["fuel_per_call"], base["hist"].get("fuel_per_call", {}))
    mem = _delta_hist(st["hist"]["memory"], base["hist"].get("memory", {}))
    limit = st["memory_limit"]
    top = _max_occupied(mem)
    peak = 0.0
    if top is not None:
        bounds = [top, st["peak"] if st["peak"] else math.inf, limit if limit > 0 else math.inf]
        peak = min(bounds)
        if math.isinf(peak):  # only the +Inf bucket and no gauge: the largest finite bound
            peak = max((u for u, _ in mem if not math.isinf(u)), default=0.0)
    return {"ts": ts, "window_s": window_s, "namespace": key[0], "module": key[1], "digest": key[2],
            "team": st["team"], "project": st["project"], "cost_center": st["cost_center"],
            "invocations": inv, "errors": errs, "fuel": int(round(st["fuel"] - base["fuel"])),
            "peak_memory": int(peak), "memory_limit": limit, "replicas": st["replicas"],
            "latency_p50_ms": _q(0.5, lat, 1000.0), "latency_p95_ms": _q(0.95, lat, 1000.0),
            "fuel_p99_per_call": _q(0.99, fpc), "memory_p99": min(_q(0.99, mem), peak)}


def scrape_host(client, collector: Collector, now=None) -> list[dict]:
    """Scrape ``client`` (a :class:`~wasmops.host.client.HostClient`) once into ``collector``."""
    return collector.collect(client.metrics(), now=now, modules=client.modules())


# -- Prometheus server ----------------------------------------------------------------------------
_BY = "namespace, module, digest, team, project"


class PrometheusQuery:
    """Window samples from a Prometheus server that scrapes the hosts (PromQL over HTTP).

    ``increase()`` extrapolates to the window's edges, so counts are rounded estimates, not the
    exact deltas the :class:`Collector` gets; use a window of several scrape intervals.
    """

    def __init__(self, url: str, *, timeout: float = 30.0, http: httpx.Client | None = None):
        self.url = url.rstrip("/")
        self.http = http or httpx.Client(base_url=self.url, timeout=timeout)

    @classmethod
    def from_env(cls) -> "PrometheusQuery | None":
        from ..config import current

        url = current().prometheus_url
        return cls(url) if url else None

    def query(self, promql: str, at: pd.Timestamp) -> dict[tuple, float]:
        try:
            r = self.http.get("/api/v1/query", params={"query": promql, "time": f"{at.value / 1e9:.3f}"})
        except httpx.TransportError as exc:
            raise TransientError(f"prometheus unreachable: {exc}", where=self.url) from exc
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
        if r.status_code >= 400 or body.get("status") != "success":
            raise (TransientError if r.status_code >= 500 else UserError)(
                f"prometheus refused {promql!r}: {body.get('error', r.text[:200])}", where=self.url)
        out = {}
        for item in body["data"]["result"]:
            m = item["metric"]
            out[tuple(m.get(k, "") for k in ("namespace", "module", "digest", "team", "project"))] = \
                float(item["value"][1])
        return out

    def collect(self, window_s: int, now=None, modules: Iterable[Mapping] | None = None) -> list[dict]:
        ts, w = _ts(now), f"{int(window_s)}s"

        def inc(metric: str) -> str:
            return f"sum by ({_BY}) (increase({metric}[{w}]))"

        def hq(q: float, metric: str) -> str:
            return f"histogram_quantile({q}, sum by (le, {_BY}) (increase({metric}_bucket[{w}])))"

        qs = {"invocations": inc("wasmops_invocations_total"), "errors": inc("wasmops_errors_total"),
              "fuel": inc("wasmops_fuel_consumed_total"),
              "latency_p50_ms": hq(0.5, HISTOGRAMS["latency"]), "latency_p95_ms": hq(0.95, HISTOGRAMS["latency"]),
              "fuel_p99_per_call": hq(0.99, HISTOGRAMS["fuel_per_call"]),
              "memory_p99": hq(0.99, HISTOGRAMS["memory"]),
              "peak_memory": f"max by ({_BY}) (max_over_time(wasmops_memory_peak_bytes[{w}]))",
              "reserved": f"max by ({_BY}) (wasmops_memory_reserved_bytes)"}
        res = {k: self.query(q, ts) for k, q in qs.items()}
        live = _live_index(modules)
        rows = []
        for key in sorted(set(res["invocations"]) | set(res["reserved"])):
            info = live.get(key[:2])
            same = info is not None and info.get("digest") == key[2]
            replicas = int(info.get("replicas", 1)) if same else 1
            reserved = res["reserved"].get(key)
            limit = int(round(reserved / replicas)) if reserved is not None and replicas > 0 else 0
            inv = int(round(res["invocations"].get(key, 0.0)))
            v = {k: (0.0 if math.isnan(x := res[k].get(key, 0.0)) else x) for k in qs}
            peak = min(v["peak_memory"], limit) if limit else v["peak_memory"]
            rows.append({"ts": ts, "window_s": float(window_s), "namespace": key[0], "module": key[1],
                         "digest": key[2], "team": key[3], "project": key[4],
                         "cost_center": _cost_center(info.get("labels", {})) if info else "",
                         "invocations": inv, "errors": min(inv, int(round(v["errors"]))),
                         "fuel": int(round(v["fuel"])), "peak_memory": int(peak), "memory_limit": limit,
                         "replicas": replicas, "latency_p50_ms": v["latency_p50_ms"] * 1000,
                         "latency_p95_ms": v["latency_p95_ms"] * 1000,
                         "fuel_p99_per_call": v["fuel_p99_per_call"], "memory_p99": min(v["memory_p99"], peak)})
        return rows
