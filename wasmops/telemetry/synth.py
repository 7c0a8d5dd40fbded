"""Synthetic telemetry with labelled anomalies, for tests and the demo (never for production models).

    >>> from wasmops.telemetry.synth import synthesize
    >>> df = synthesize(modules=4, teams=2, days=7, seed=1)
    >>> df.shape, bool(df["is_anomaly"].mean() < 0.05)
    ((672, 20), True)

The shape of the data, per module:

* a base call rate drawn per module and scaled per team (teams differ in size);
* daily seasonality: a cosine with a per-team peak hour and amplitude;
* weekly seasonality: a per-team weekend factor (some teams are busy at weekends, most aren't);
* a slow per-module trend, and multiplicative noise on rates, fuel, latency and memory;
* calls are Poisson, errors binomial; fuel per call, memory and latency are lognormal around a
  per-module base, with latency and memory rising a little with load.

Anomalies (``is_anomaly``, ``anomaly_kind``) are injected into about ``anomaly_rate`` of the
rows that had traffic: ``fuel_spike`` (fuel per call ×4–12), ``memory_blowup`` (memory to
90–100% of the limit), ``latency_regression`` (latency ×4–10) and ``error_burst`` (20–70% of
calls fail). :func:`inject_release_regression` models a bad release of one module instead.

Everything is vectorised with numpy: a million rows take about a second. The same arguments
and seed give the same frame, keyed like real samples by ``(namespace, module, digest, ts)``; the
digest is derived from the seed and the module, so it never equals a real module's digest, and
appending the same frame twice stores it once. The store marks frames with label columns as
synthetic (``Store.synthetic_series()``): a model trained on them is tagged ``data.synthetic=true``
and is not promoted to ``@champion`` without ``--allow-synthetic``.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from . import schema

ANOMALY_KINDS = ("fuel_spike", "memory_blowup", "latency_regression", "error_burst")
TEAM_NAMES = ("payments", "search", "media", "identity", "ads", "infra", "growth", "risk")
PAGE = 65536


def _digest(seed: int, module: str) -> str:
    return "sha256:" + hashlib.sha256(f"synthetic:{seed}:{module}".encode()).hexdigest()


def _take(values: list[str], codes: np.ndarray) -> np.ndarray:
    return pd.array(values, dtype="str").take(codes)


# Over 60 lines on purpose: one vectorised model drawn from one RNG in a fixed order, read top to bottom.
def synthesize(modules: int = 20, teams: int = 4, days: float = 28, freq: str = "1h",
               anomaly_rate: float = 0.01, seed: int = 0, *, start="2025-01-06T00:00:00Z",
               end=None, namespace: str = "prod") -> pd.DataFrame:
    """Synthetic samples: ``modules`` × ``days``/``freq`` rows with the schema's columns plus
    ``is_anomaly`` and ``anomaly_kind``, sorted by ts then module.

    ``start`` is the beginning of the first window (a Monday by default); pass ``end`` instead to
    make the last window end there (e.g. now, for data that passes a freshness check).
    """
    if modules < 1 or teams < 1:
        raise ValueError("modules and teams must be at least 1")
    rng = np.random.default_rng(seed)
    step = pd.Timedelta(freq)
    window_s = int(step.total_seconds())
    T = int(round(pd.Timedelta(days=days) / step))
    M = modules
    t0 = (pd.Timestamp(end) - T * step) if end is not None else pd.Timestamp(start)
    t0 = t0.tz_localize("UTC") if t0.tzinfo is None else t0.tz_convert("UTC")

    # -- per team -----------------------------------------------------------------------------
    team_scale = np.exp(rng.normal(0.0, 0.8, teams))                 # teams differ in size
    team_peak = (9 + 11 * np.arange(teams) / max(teams, 1) + rng.uniform(-1, 1, teams)) % 24
    team_amp = rng.uniform(0.35, 0.85, teams)
    team_weekend = rng.uniform(0.25, 0.9, teams)
    team_weekend[rng.random(teams) < 0.15] = rng.uniform(1.05, 1.4)  # an occasional weekend-heavy team
    team_names = [TEAM_NAMES[i % len(TEAM_NAMES)] + ("" if i < len(TEAM_NAMES) else f"-{i}") for i in range(teams)]

    # -- per module ---------------------------------------------------------------------------
    team_of = np.arange(M) % teams
    rate = team_scale[team_of] * np.exp(rng.normal(np.log(1200), 0.8, M))  # calls per hour
    fpc = np.exp(rng.normal(np.log(2e5), 1.0, M))                            # fuel per call
    fpc_tail = rng.uniform(1.2, 3.0, M)
    pages = np.maximum(1, np.exp(rng.normal(np.log(16), 1.0, M))).round()
    mem_base = pages * PAGE
    limit = np.maximum(2**20, 2 ** np.ceil(np.log2(mem_base * rng.uniform(2, 6, M)))).astype(np.int64)
    replicas = rng.integers(1, 4, M)
    lat = np.exp(rng.normal(np.log(2.0), 0.6, M))                            # ms
    lat_tail = rng.uniform(1.5, 3.0, M)
    err = np.exp(rng.normal(np.log(0.002), 0.8, M)).clip(0, 0.05)
    trend = rng.normal(0.0, 0.1, M)
    names = [f"mod-{i:03d}" for i in range(M)]
    projects = [f"{team_names[team_of[i]]}-p{i % 3}" for i in range(M)]
    cost_centers = [f"cc-{100 + team_of[i]}" if i % 7 else "" for i in range(M)]
    namespaces = [namespace] * M

    # -- time × module ------------------------------------------------------------------------
    mid = (np.arange(T) + 0.5) * window_s                                   # seconds since t0
    hour = (t0.hour + t0.minute / 60 + mid / 3600) % 24
    weekday = (t0.day_of_week + (t0.hour * 3600 + t0.minute * 60 + t0.second + mid) // 86400) % 7
    daily = 1 + team_amp[None, :] * np.cos(2 * np.pi * (hour[:, None] - team_peak[None, :]) / 24)
    weekly = np.where(weekday[:, None] >= 5, team_weekend[None, :], 1.0)
    load = (daily * weekly)[:, team_of]                                      # T × M
    growth = 1 + trend[None, :] * (np.arange(T) / max(T - 1, 1))[:, None]
    lam = rate[None, :] * (window_s / 3600) * load * growth * np.exp(rng.normal(0, 0.08, (T, M)))
    inv = rng.poisson(lam).astype(np.int64)
    errors = rng.binomial(inv, err[None, :]).astype(np.int64)
    busy = load / load.mean(axis=0, keepdims=True)
    fpc_t = fpc[None, :] * np.exp(rng.normal(0, 0.04, (T, M)))
    fuel = np.round(inv * fpc_t)
    fuel_p99 = fpc_t * fpc_tail[None, :] * np.exp(rng.normal(0, 0.05, (T, M)))
    p50 = lat[None, :] * (1 + 0.25 * (busy - 1)).clip(0.5) * np.exp(rng.normal(0, 0.08, (T, M)))
    p95 = p50 * lat_tail[None, :] * np.exp(rng.normal(0, 0.06, (T, M)))
    grow = 1 + 0.4 * busy * rng.random((T, M))
    peak = np.minimum(np.ceil(mem_base[None, :] * grow / PAGE) * PAGE, limit[None, :])
    mem_p99 = peak * rng.uniform(0.85, 1.0, (T, M))

    # -- anomalies ----------------------------------------------------------------------------
    hit = (rng.random((T, M)) < anomaly_rate) & (inv > 0)
    kind = rng.integers(0, len(ANOMALY_KINDS), (T, M))
    f = rng.uniform(0, 1, (T, M))
    m = hit & (kind == 0)
    fuel = np.where(m, np.round(fuel * (4 + 8 * f)), fuel)
    fuel_p99 = np.where(m, fuel_p99 * (4 + 8 * f), fuel_p99)
    m = hit & (kind == 1)
    blown = np.minimum(np.ceil(limit[None, :] * (0.9 + 0.1 * f) / PAGE) * PAGE, limit[None, :])
    peak = np.where(m, np.maximum(peak, blown), peak)
    mem_p99 = np.where(m, peak * (0.9 + 0.1 * f), mem_p99)
    m = hit & (kind == 2)
    p50 = np.where(m, p50 * (4 + 6 * f), p50)
    p95 = np.where(m, p95 * (4 + 6 * f), p95)
    m = hit & (kind == 3)
    errors = np.where(m, np.maximum(errors, np.round(inv * (0.2 + 0.5 * f))), errors).astype(np.int64)

    idle = inv == 0  # like the scraper: no calls, no quantiles and no memory seen
    for a in (fuel_p99, p50, p95, mem_p99, peak):
        a[idle] = 0.0

    n = T * M
    mod_codes = np.tile(np.arange(M), T)
    ts = pd.DatetimeIndex(t0 + step * np.arange(1, T + 1)).as_unit("ns").repeat(M)
    df = pd.DataFrame({
        "ts": ts,
        "window_s": np.full(n, window_s, np.float64),
        "namespace": _take(namespaces, mod_codes),
        "module": _take(names, mod_codes),
        "digest": _take([_digest(seed, x) for x in names], mod_codes),
        "team": _take(team_names, team_of[mod_codes]),
        "project": _take(projects, mod_codes),
        "cost_center": _take(cost_centers, mod_codes),
        "invocations": inv.ravel(),
        "errors": errors.ravel(),
        "fuel": fuel.ravel().astype(np.int64),
        "peak_memory": peak.ravel().astype(np.int64),
        "memory_limit": np.tile(limit, T),
        "replicas": np.tile(replicas.astype(np.int64), T),
        "latency_p50_ms": p50.ravel(),
        "latency_p95_ms": p95.ravel(),
        "fuel_p99_per_call": fuel_p99.ravel(),
        "memory_p99": mem_p99.ravel(),
        "is_anomaly": hit.ravel(),
        "anomaly_kind": _take(["", *ANOMALY_KINDS], np.where(hit, kind + 1, 0).ravel()),
    })
    return df


#: Minutes of 1-minute windows at the end of :func:`synthesize_to_now`: at least ``wasmops score``'s
#: default window (60), written at the resolution ``telemetry collect`` writes (one window a minute).
RECENT_MINUTES = 60


def synthesize_to_now(modules: int = 20, teams: int = 4, days: float = 28, anomaly_rate: float = 0.01,
                      seed: int = 0, *, now=None, recent_minutes: int = RECENT_MINUTES) -> pd.DataFrame:
    """History that ends at the current minute, as the store holds it after ``telemetry collect``:
    hourly windows for ``days`` up to a whole hour, then 1-minute windows (at least ``recent_minutes``
    of them) up to now. Both parts come from the same modules (same seed: same rates, teams and
    digests), so ``wasmops score`` with its defaults (60 minutes, fresh within 30, 2 windows) judges it.

        >>> df = synthesize_to_now(modules=2, days=2, now="2025-03-03T12:34:56Z")
        >>> str(df["ts"].max()), sorted(df["window_s"].unique().tolist())
        ('2025-03-03 12:34:00+00:00', [60.0, 3600.0])
        >>> int((df["window_s"] == 60).sum()) // 2      # 11:00 → 12:34
        94
    """
    end = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    end = (end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")).floor("min")
    cut = (end - pd.Timedelta(minutes=recent_minutes + 1)).floor("h")   # no hourly row inside the last hour
    kw = dict(modules=modules, teams=teams, anomaly_rate=anomaly_rate, seed=seed)
    hourly = synthesize(days=days, end=cut, **kw)
    if end == cut:
        return hourly
    recent = synthesize(days=(end - cut) / pd.Timedelta(days=1), freq="1min", end=end, **kw)
    return pd.concat([hourly, recent], ignore_index=True)


def inject_release_regression(df: pd.DataFrame, module: str, digest: str, start, factor: float = 3.0, *,
                              kinds=("latency", "fuel", "errors"), namespace: str | None = None) -> pd.DataFrame:
    """A bad release: from ``start`` on, ``module`` runs as ``digest`` and is worse by ``factor``.

    ``kinds`` picks what regresses: ``latency`` (p50/p95 × factor), ``fuel`` (fuel and fuel p99
    per call × factor), ``errors`` (a failure rate of min(0.5, 2% × factor)), ``memory`` (peak
    and p99 memory × factor, capped at the limit). The rows are labelled
    ``anomaly_kind="release_regression"``. Returns a new frame.
    """
    out = df.copy()
    ts0 = pd.Timestamp(start)
    ts0 = ts0.tz_localize("UTC") if ts0.tzinfo is None else ts0.tz_convert("UTC")
    m = (out["module"] == module) & (out["ts"] >= ts0)
    if namespace is not None:
        m &= out["namespace"] == namespace
    m = m.to_numpy()
    if not m.any():
        raise ValueError(f"no samples of {module!r} at or after {ts0}")
    unknown = set(kinds) - {"latency", "fuel", "errors", "memory"}
    if unknown:
        raise ValueError(f"unknown regression kind(s) {sorted(unknown)}")
    out.loc[m, "digest"] = digest
    if "latency" in kinds:
        for c in ("latency_p50_ms", "latency_p95_ms"):
            out.loc[m, c] = out.loc[m, c] * factor
    if "fuel" in kinds:
        out.loc[m, "fuel"] = (out.loc[m, "fuel"] * factor).round().astype(np.int64)
        out.loc[m, "fuel_p99_per_call"] = out.loc[m, "fuel_p99_per_call"] * factor
    if "errors" in kinds:
        inv = out.loc[m, "invocations"]
        out.loc[m, "errors"] = np.maximum(out.loc[m, "errors"], (inv * min(0.5, 0.02 * factor)).round()).astype(np.int64)
    if "memory" in kinds:
        lim = out.loc[m, "memory_limit"]
        out.loc[m, "peak_memory"] = np.minimum(out.loc[m, "peak_memory"] * factor, lim).astype(np.int64)
        out.loc[m, "memory_p99"] = np.minimum(out.loc[m, "memory_p99"] * factor, lim)
    if "is_anomaly" in out.columns:
        out.loc[m, "is_anomaly"] = True
        out.loc[m, "anomaly_kind"] = "release_regression"
    else:
        out["is_anomaly"], out["anomaly_kind"] = m, np.where(m, "release_regression", "")
        out = schema.coerce(out, labels=True)
    return out
