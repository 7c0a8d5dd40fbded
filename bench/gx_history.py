"""What validating the monitor's 30-day history with GX costs on every ``score`` run. Prints figures
and ratios against a baseline measured in the same process; asserts nothing.

Data: ``synthesize`` (20 modules × 30 days, 1-minute windows: 864,000 rows; 5-minute: 172,800),
no anomalies, ending at a fixed clock, in a fresh SQLite store per size.

Per size:
  read        ``store.window(30 days)``: what the monitor pays anyway (the baseline of the ratios)
  full        read + GX on the whole history (validating everything on every run)
  first       ``validated_history`` on a store whose ledger is new (every row unsettled: one full pass)
  steady      ``validated_history`` after 5 minutes of new windows were appended (what each run pays)
  idle        ``validated_history`` with nothing new (read + the ledger's query, no GX)
  monitor     ``models.monitor.monitor`` on the history (the step this validation guards), for scale
and the cost of the ledger's insert trigger: ``append`` of the whole history into a fresh store
with the ledger installed, against a fresh store without it.

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/gx_history.py [--no-monitor]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from wasmops.telemetry import Store, synthesize, validate
from wasmops.telemetry.gx_ledger import Ledger
from wasmops.telemetry.history import suite_digest, validated_history

NOW = pd.Timestamp("2026-12-07T12:00Z")
HISTORY_MIN = 30 * 24 * 60


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def size(freq: str, with_monitor: bool) -> None:
    df = synthesize(modules=20, days=30, freq=freq, end=NOW, seed=1, anomaly_rate=0).drop(
        columns=["is_anomaly", "anomaly_kind"])
    step = pd.Timedelta(freq)
    new = synthesize(modules=20, days=5 / 1440, freq=freq, end=NOW + pd.Timedelta(minutes=5), seed=1,
                     anomaly_rate=0).drop(columns=["is_anomaly", "anomaly_kind"])
    later = NOW + pd.Timedelta(minutes=5)
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        plain, ledgered = Store(Path(d) / "plain.db"), Store(Path(d) / "ledger.db")
        Ledger(ledgered, suite_digest())                 # trigger installed on an empty store
        t_plain, _ = timed(lambda: plain.append(df, now=NOW))
        t_trig, _ = timed(lambda: ledgered.append(df, now=NOW))
        st = ledgered
        t_read, hist = timed(lambda: st.window(HISTORY_MIN, now=NOW), repeat=2)
        t_gx, out = timed(lambda: validate(hist, freshness_minutes=None, min_rows=0, now=NOW), repeat=2)
        assert out.success, out.failed
        t_first, first = timed(lambda: validated_history(st, HISTORY_MIN, now=NOW))
        st.append(new, now=later)
        t_steady, steady = timed(lambda: validated_history(st, HISTORY_MIN, now=later))
        t_idle, idle = timed(lambda: validated_history(st, HISTORY_MIN, now=later), repeat=2)
        t_mon = None
        if with_monitor:
            from models.monitor import monitor
            t_mon, _ = timed(lambda: monitor(hist, now=NOW, window_minutes=60))
        plain.close()
        st.close()
    full = t_read + t_gx
    print(f"\n{freq} windows: {len(df):,} rows in 30 days, {len(new)} new rows per 5 minutes")
    rows = [("read (baseline)", t_read, len(hist)), ("full: read + GX on all", full, len(hist)),
            ("first: ledger new, GX on all", t_first, first.checked),
            ("steady: 5 min of new rows", t_steady, steady.checked), ("idle: nothing new", t_idle, idle.checked)]
    if t_mon is not None:
        rows.append(("monitor (for scale)", t_mon, len(hist)))
    print(f"  {'':<32}{'seconds':>9}{'× read':>9}{'rows GX':>10}")
    for label, t, n in rows:
        print(f"  {label:<32}{t:9.2f}{t / t_read:9.2f}{n:>10,}")
    print(f"  GX alone on all rows {t_gx:.2f} s; steady saves {full - t_steady:.2f} s a run "
          f"({t_steady / full:.2f} × full)")
    print(f"  append {len(df):,} rows: {t_plain:.2f} s plain, {t_trig:.2f} s with the ledger's trigger "
          f"({t_trig / t_plain:.2f} ×)")


def main() -> None:
    with_monitor = "--no-monitor" not in sys.argv
    validate(synthesize(modules=1, days=1).head(50), freshness_minutes=None)   # pay `import great_expectations`
    for freq in ("5min", "1min"):
        size(freq, with_monitor)


if __name__ == "__main__":
    main()
