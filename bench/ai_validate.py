"""Telemetry data-path benchmark. Prints figures; asserts nothing.

1. Synthesize 1,000,000 rows (500 modules × 84 days, hourly).
2. Validate them with the GX suite (expectations/telemetry.json), after a warm-up on 100 rows
   that pays the one-off `import great_expectations`.
3. Append them to a fresh SQLite telemetry store, append them again (all ignored), and read
   them back with the schema's dtypes.

Run: .venv/bin/python bench/ai_validate.py [rows]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from wasmops.telemetry import Store, schema, synthesize, validate


def timed(label: str, fn):
    t = time.perf_counter()
    out = fn()
    print(f"{label:<48} {time.perf_counter() - t:8.2f} s", flush=True)
    return out


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    modules = 500
    days = rows / modules / 24
    df = timed(f"synthesize {rows:,} rows", lambda: synthesize(modules=modules, days=days, seed=0))
    print(f"  shape {df.shape}, {df.memory_usage(deep=True).sum() / 2**20:.0f} MiB, "
          f"{int(df['is_anomaly'].sum()):,} labelled anomalies")
    timed("validate warm-up (100 rows, imports GX)", lambda: validate(df.head(100), freshness_minutes=None))
    out = timed(f"validate {len(df):,} rows (60 expectations)", lambda: validate(df, freshness_minutes=None))
    print(f"  success={out.success} checks={out.stats['evaluated']} result_id={out.result_id[:23]}")
    with tempfile.TemporaryDirectory() as d:
        st = Store(Path(d) / "telemetry.db")
        n = timed(f"store.append {len(df):,} rows (new)", lambda: st.append(df))
        again = timed(f"store.append {len(df):,} rows (again: all ignored)", lambda: st.append(df))
        print(f"  inserted {n:,} then {again:,}; file {os.path.getsize(st.path) / 2**20:.0f} MiB")
        back = timed(f"store.read {len(df):,} rows", st.read)
        print(f"  read {len(back):,} rows, dtypes ok: {schema.check_dtypes(back) == []}")
        part = timed("store.read 1 day of all modules", lambda: st.read(since=df["ts"].max() - pd.Timedelta(days=1)))
        print(f"  {len(part):,} rows")
        st.close()


if __name__ == "__main__":
    main()
