"""FinOps at scale: one month of hourly telemetry for 500 modules (360,000 samples).

    python bench/finops.py                 # 500 modules × 720 h
    python bench/finops.py 100 168         # modules, hours
    python bench/finops.py --out DIR       # keep the FOCUS CSV / Parquet and the chart in DIR

Times attribution (exact Decimal costs), the report by team, cost over time, the FOCUS 1.0 export
(rows built, CSV and Parquet written) and the chart, and prints the figures. The samples are
synthetic (numpy, seeded): 12 teams, 40 projects, memory limits 8–128 MiB, 1–3 replicas, a daily
traffic cycle, and one module in ten idle.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from wasmops.finops import attribute, chart_png, cost_over_time, load_prices, report, to_focus, totals, write_focus
from wasmops.finops.waste import recommend

ROOT = Path(__file__).resolve().parent.parent
MIB = 1 << 20


def synth(modules: int, hours: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    m = np.arange(modules)
    limit = (8 * MIB) << rng.integers(0, 5, modules)                       # 8..128 MiB
    replicas = rng.integers(1, 4, modules)
    rate = rng.lognormal(6, 1.5, modules) * (rng.random(modules) > 0.1)     # calls per hour; 10% idle
    fuel_per_call = rng.lognormal(10, 1, modules)          # ~36k fuel per call
    used = limit * rng.uniform(0.05, 0.9, modules)
    t = np.arange(1, hours + 1)
    start = pd.Timestamp("2026-03-01", tz="UTC")
    mm, tt = np.repeat(m, hours), np.tile(t, modules)
    cycle = 1 + 0.6 * np.sin(2 * np.pi * (tt % 24) / 24)
    inv = rng.poisson(rate[mm] * cycle)
    fuel = (inv * fuel_per_call[mm] * rng.uniform(0.8, 1.2, len(mm))).astype(np.int64)
    peak = np.where(inv > 0, used[mm] * rng.uniform(0.7, 1.0, len(mm)), 1 * MIB).astype(np.int64)
    names = np.array([f"mod-{i:03d}" for i in m], dtype=object)
    teams = np.array([f"team-{i % 12:02d}" for i in m], dtype=object)
    projects = np.array([f"proj-{i % 40:02d}" for i in m], dtype=object)
    return pd.DataFrame({
        "ts": start + pd.to_timedelta(tt, unit="h"), "window_s": np.full(len(mm), 3600, np.int64),
        "namespace": np.where(mm % 5 == 0, "prod", "dev").astype(object), "module": names[mm],
        "digest": np.array([f"sha256:{i:064x}" for i in m], dtype=object)[mm], "team": teams[mm],
        "project": projects[mm], "cost_center": np.array([f"cc-{i % 7}" for i in m], dtype=object)[mm],
        "invocations": inv.astype(np.int64), "errors": np.zeros(len(mm), np.int64), "fuel": fuel,
        "peak_memory": np.minimum(peak, limit[mm]), "memory_limit": limit[mm].astype(np.int64),
        "replicas": replicas[mm].astype(np.int64), "latency_p50_ms": np.full(len(mm), 1.0),
        "latency_p95_ms": np.full(len(mm), 3.0), "fuel_p99_per_call": np.where(inv > 0, fuel_per_call[mm] * 1.3, 0.0),
        "memory_p99": np.where(inv > 0, used[mm].astype(float), 0.0),
    })


def timed(label: str, fn, results: dict):
    t0 = time.perf_counter()
    out = fn()
    results[label] = time.perf_counter() - t0
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="?", type=int, default=500)
    ap.add_argument("hours", nargs="?", type=int, default=720)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="wasmops-bench-finops-"))
    out.mkdir(parents=True, exist_ok=True)
    book = load_prices(ROOT / "deployments" / "pricing.yaml")
    t: dict[str, float] = {}
    samples = timed("synthesize samples (numpy)", lambda: synth(args.modules, args.hours), t)
    costs = timed("attribute (exact Decimal per sample)", lambda: attribute(samples, book), t)
    by_team = timed("report by team", lambda: report(costs, by="team"), t)
    timed("report by module", lambda: report(costs, by="module"), t)
    daily = timed("cost over time (team × day)", lambda: cost_over_time(costs, by="team", freq="1D"), t)
    focus = timed("FOCUS rows (to_focus)", lambda: to_focus(costs, book), t)
    csv = timed("FOCUS CSV written", lambda: write_focus(focus, out / "focus.csv"), t)
    pq = timed("FOCUS Parquet written", lambda: write_focus(focus, out / "focus.parquet"), t)
    png = timed("chart PNG", lambda: chart_png(costs, out / "cost-by-team.png", by="team"), t)

    from wasmops.gitops.desired import DesiredState
    from wasmops.gitops.manifest import WasmModuleDeployment

    last = samples.drop_duplicates("module", keep="last")
    ds = DesiredState(revision=None, pricing=book.sheet, deployments={
        f"{r.namespace}/{r.module}": WasmModuleDeployment.model_validate({
            "metadata": {"name": r.module, "namespace": r.namespace, "labels": {"team": r.team, "project": r.project}},
            "spec": {"replicas": int(r.replicas), "moduleRef": {"repository": r.module, "tag": "v1"},
                     "runtimeConfig": {"resources": {"cpu": "1000m", "memory": f"{r.memory_limit // MIB}Mi"}}}})
        for r in last.itertuples()})
    recs = timed("rightsizing recommendations", lambda: recommend(samples, ds, book, now=samples["ts"].max()
                                                                  .to_pydatetime()), t)

    total = totals(costs)
    print(f"samples: {len(samples):,} ({args.modules} modules × {args.hours} h); FOCUS rows: {len(focus):,}")
    print(f"{'step':<40} {'seconds':>8} {'rows/s':>12}")
    for label, secs in t.items():
        n = len(focus) if label.startswith("FOCUS") else len(samples)
        print(f"{label:<40} {secs:8.2f} {n / secs if secs else 0:12,.0f}")
    print(f"\ntotal cost {total['total_cost']:.2f} {book.currency}: fuel {total['fuel_cost']:.2f}, invocations "
          f"{total['invocation_cost']:.2f}, memory {total['memory_cost']:.2f} (idle {total['idle_cost']:.2f})")
    print("\ntop teams:")
    print(by_team.head(5)[["fuel_cost", "invocation_cost", "memory_cost", "idle_cost", "total_cost"]]
          .map(lambda d: f"{d:.4f}").to_string())
    kinds = pd.Series([r.kind for r in recs]).value_counts().to_dict()
    saving = sum((r.monthly_saving for r in recs), start=type(total["total_cost"])(0))
    print(f"\nrecommendations: {kinds}, saving {saving:.2f} {book.currency}/month")
    print(f"days × teams: {daily.shape}; files: {csv} ({csv.stat().st_size / 1e6:.0f} MB), "
          f"{pq} ({pq.stat().st_size / 1e6:.0f} MB), {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
