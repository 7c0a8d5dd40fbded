"""How late a run's wall-clock deadline stops it, on a busy process. Prints figures; asserts nothing.

A looping module runs under ``timeout_ms`` (300 ms) in the sandbox, 8 times, first alone, then beside
2 and 4 Python threads that keep the GIL busy (what a host's event loop under load does to the epoch
thread, which needs the GIL for every tick). Prints each run's duration as a ratio to its limit
(1.00 = on time; the ratio is the figure, so compare it across trees, not the absolute times).

Run: .venv/bin/python bench/deadlines.py   (BENCH_TIMEOUT_MS=1000 for another limit)
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import wasmtime  # noqa: E402

from support.wat import hostile  # noqa: E402
from wasmops.wasm.sandbox import RunLimits, Sandbox  # noqa: E402


def runs(sb: Sandbox, prepared, limit_ms: int, hogs: int, n: int = 8) -> list[float]:
    stop = threading.Event()

    def hog() -> None:
        x = 0
        while not stop.is_set():
            x += 1

    threads = [threading.Thread(target=hog, daemon=True) for _ in range(hogs)]
    for t in threads:
        t.start()
    out = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            r = sb.run(prepared, limits=RunLimits(fuel=10**15, timeout_ms=limit_ms))
            out.append((time.perf_counter() - t0) * 1000 / limit_ms)
            assert r.reason == "timeout", r
    finally:
        stop.set()
    return out


def main() -> None:
    limit = int(os.environ.get("BENCH_TIMEOUT_MS", "300"))
    sb = Sandbox()
    prepared = sb.prepare(wasmtime.Module(sb.engine, hostile("loop")))
    for hogs in (0, 2, 4):
        r = runs(sb, prepared, limit, hogs)
        print(f"timeout {limit} ms, {hogs} GIL-busy threads beside: duration / limit median {statistics.median(r):.2f}, "
              f"min {min(r):.2f}, max {max(r):.2f} (8 runs)")
    sb.close()


if __name__ == "__main__":
    main()
