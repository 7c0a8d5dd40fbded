"""Small synthetic telemetry for the model tests (the schema of ``wasmops.telemetry``).

Used when ``wasmops.telemetry.synth`` is not available. One row per module and hourly window,
with daily and weekly load cycles, per-module levels, and injected anomalies
(``fuel_spike``, ``memory_leak``, ``latency_spike``, ``error_burst``) labelled in ``is_anomaly``
and ``anomaly_kind``::

    >>> df = synthesize(n_modules=4, weeks=1, seed=1)
    >>> len(df), df["is_anomaly"].dtype
    (672, dtype('bool'))
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

TEAMS = ("payments", "search", "edge", "data", "platform")
KINDS = ("fuel_spike", "memory_leak", "latency_spike", "error_burst")
MIB = 1 << 20


def synthesize(n_modules: int = 20, weeks: float = 3, *, start: str = "2025-01-06", seed: int = 0,
               anomaly_rate: float = 0.01, teams: tuple[str, ...] = TEAMS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hours = int(round(weeks * 168))
    ts = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=hours, freq="h")
    hod = ts.hour.to_numpy()
    dow = ts.weekday.to_numpy()
    daily = 1.0 + 0.6 * np.sin(2 * np.pi * (hod - 9) / 24)
    weekly = np.where(dow >= 5, 0.6, 1.0)
    frames = []
    for m in range(n_modules):
        team = teams[m % len(teams)]
        base_rate = rng.lognormal(np.log(400), 0.8)
        fpc = rng.lognormal(np.log(2e6), 1.0)
        mem = rng.choice([8, 16, 32, 64, 128]) * MIB * rng.uniform(0.5, 0.9)
        limit = int(2 ** np.ceil(np.log2(mem / MIB * 1.5))) * MIB
        replicas = int(rng.integers(1, 5))
        lat = rng.lognormal(np.log(5), 0.6)
        p_err = rng.uniform(0.0005, 0.01)
        trend = np.exp(np.cumsum(rng.normal(0, 0.004, hours)))  # slow level drift
        load = daily * weekly * trend * rng.lognormal(0, 0.15, hours)
        inv = rng.poisson(base_rate * load).astype(np.int64)
        fpc_h = fpc * rng.lognormal(0, 0.08, hours)
        peak = mem * (1 + 0.1 * (load / load.mean() - 1)) * rng.lognormal(0, 0.06, hours)
        p50 = lat * (1 + 0.15 * (load / load.mean() - 1)) * rng.lognormal(0, 0.08, hours)
        p95 = p50 * rng.lognormal(np.log(2.5), 0.08, hours)
        perr = np.full(hours, p_err)
        kind = np.array([""] * hours, dtype=object)
        hit = rng.random(hours) < anomaly_rate
        kind[hit] = rng.choice(KINDS, hit.sum())
        k = kind == "fuel_spike"
        fpc_h[k] *= rng.uniform(2.0, 6.0, k.sum())
        k = kind == "memory_leak"
        peak[k] *= rng.uniform(1.5, 3.0, k.sum())
        k = kind == "latency_spike"
        f = rng.uniform(2.5, 8.0, k.sum())
        p50[k] *= f
        p95[k] *= f
        k = kind == "error_burst"
        perr[k] = rng.uniform(0.03, 0.2, k.sum())
        name = f"mod-{m:03d}"
        frames.append(pd.DataFrame({
            "ts": ts, "window_s": np.int64(3600), "namespace": "default", "module": name,
            "digest": "sha256:" + hashlib.sha256(name.encode()).hexdigest(),
            "team": team, "project": f"{team}-app", "cost_center": f"cc-{teams.index(team) + 100}",
            "invocations": inv, "errors": rng.binomial(inv, perr).astype(np.int64),
            "fuel": (inv * fpc_h).astype(np.int64), "peak_memory": peak.astype(np.int64),
            "memory_limit": np.int64(limit), "replicas": np.int64(replicas),
            "latency_p50_ms": p50, "latency_p95_ms": p95,
            "fuel_p99_per_call": fpc_h * rng.lognormal(np.log(2.0), 0.1, hours),
            "memory_p99": peak * 0.92, "is_anomaly": kind != "", "anomaly_kind": kind.astype(str),
        }))
    df = pd.concat(frames, ignore_index=True).sort_values(["ts", "module"], ignore_index=True)
    for c in ("namespace", "module", "digest", "team", "project", "cost_center", "anomaly_kind"):
        df[c] = df[c].astype(str)
    return df


def telemetry(n_modules: int = 20, weeks: float = 3, *, seed: int = 0, teams: int = 5) -> pd.DataFrame:
    """``wasmops.telemetry.synth.synthesize`` (the project's generator) when it exists, else this one."""
    try:
        from wasmops.telemetry.synth import synthesize as project_synthesize  # noqa: PLC0415
    except ImportError:
        return synthesize(n_modules, weeks, seed=seed, teams=TEAMS[:teams])
    return project_synthesize(modules=n_modules, teams=teams, days=weeks * 7, seed=seed)
