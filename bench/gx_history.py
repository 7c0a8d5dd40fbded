"""What validating the monitor's 30-day history with GX costs on every ``score`` run. Prints figures
and ratios against a baseline measured in the same process; asserts nothing.

Data: ``synthesize`` (``--modules`` modules, default 20, × 30 days, 5-minute windows: 172,800 rows;
1-minute: 864,000), no anomalies, ending at a fixed clock, in a fresh SQLite store per size.

Per size, best of two runs:
  read         ``store.window(30 days)``: what the monitor pays anyway (the baseline of the ratios)
  full         ``history.validated``: GX on the whole history, every run, per-module freshness on
               (what ``score`` runs: the design chosen)
  new only     GX on the last 5 minutes' rows alone: the least any incremental scheme would pay a run
               (no bookkeeping counted), so ``full - new only`` is the most it could save
  monitor      ``models.monitor.monitor`` on the history (the step the validation guards), once

An incremental ledger (rows not yet passed kept in the store by an insert trigger) was built and
measured first, in commit 697fa30 (``git show 697fa30:bench/gx_history.py``); see docs/decisions.md.

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/gx_history.py [--modules N] [--no-monitor]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from wasmops.telemetry import Store, synthesize, validate
from wasmops.telemetry.history import validated

NOW = pd.Timestamp("2026-12-07T12:00Z")
HISTORY_MIN = 30 * 24 * 60


def timed(fn, repeat: int = 2) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def size(freq: str, modules: int, with_monitor: bool) -> None:
    df = synthesize(modules=modules, days=30, freq=freq, end=NOW, seed=1, anomaly_rate=0).drop(
        columns=["is_anomaly", "anomaly_kind"])
    new = df[df["ts"] > NOW - pd.Timedelta(minutes=5)]
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        st = Store(Path(d) / "telemetry.db")
        st.append(df, now=NOW)
        t_read, hist = timed(lambda: st.window(HISTORY_MIN, now=NOW))
        st.close()
    t_full, check = timed(lambda: validated(hist, now=NOW, freshness_minutes=30))   # as score runs it
    assert not check.left_out and not check.held_all and len(check.rows) == len(hist)
    t_new, _ = timed(lambda: validate(new, freshness_minutes=None, min_rows=0, now=NOW))
    t_mon = timed(lambda: __import__("models.monitor", fromlist=["monitor"]).monitor(
        hist, now=NOW, window_minutes=60), repeat=1)[0] if with_monitor else None
    print(f"\n{modules} modules, {freq} windows: {len(hist):,} rows in 30 days, {len(new)} rows per 5 minutes")
    print(f"  {'':<34}{'seconds':>9}{'× read':>9}")
    for label, t in (("read (baseline)", t_read), ("full: GX on the whole history", t_full),
                     ("new only: GX on 5 minutes' rows", t_new), ("monitor (for scale)", t_mon)):
        if t is not None:
            print(f"  {label:<34}{t:9.2f}{t / t_read:9.2f}")
    print(f"  an incremental scheme could save at most {t_full - t_new:.2f} s a run "
          f"({(t_full - t_new) / t_read:.2f} × read"
          + (f", {(t_full - t_new) / t_mon:.3f} × monitor)" if t_mon else ")"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--modules", type=int, default=20)
    ap.add_argument("--no-monitor", action="store_true")
    a = ap.parse_args()
    validate(synthesize(modules=1, days=1).head(50), freshness_minutes=None)   # pay `import great_expectations`
    for freq in ("5min", "1min"):
        size(freq, a.modules, not a.no_monitor)


if __name__ == "__main__":
    main()
