"""Host overhead and deploy-time benchmark. Prints figures; asserts nothing.

1. Overhead: a trivial module through the host (pinned to one core) under load from `wrk`
   (Debian package; on the other core) versus a bare wasmtime-py loop of InstancePre
   instantiate + _start on the same module, in the same run, on one core. Prints the ratio of
   per-request cost.
2. Deploy time: redeploy of a known digest from the precompiled cache versus first compile.

Run: .venv/bin/python bench/host.py
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import wasmtime  # noqa: E402

from support.host import HostProcess, make_workspace  # noqa: E402
from support.wat import hostile  # noqa: E402
from wasmops.sandbox import RunLimits, Sandbox  # noqa: E402

LIMITS = {"fuel": 10_000_000, "memory": "16Mi", "timeout_ms": 2000, "max_stdout": "1Mi"}


def bare_loop(wasm: bytes, seconds: float = 3.0) -> tuple[float, float, float]:
    """Bare wasmtime-py: fresh Store + InstancePre.instantiate + _start (same limits as the host)."""
    os.sched_setaffinity(0, {0})
    sb = Sandbox()
    prep = sb.load(wasm)
    eng = sb.engine
    lats = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        st = wasmtime.Store(eng)
        st.set_fuel(10_000_000)
        st.set_epoch_deadline(400)
        st.set_limits(memory_size=16 * 2**20)
        st.set_wasi(wasmtime.WasiConfig())
        inst = prep.pre.instantiate(st)
        inst.exports(st)["_start"](st)
        lats.append(time.perf_counter() - t)
    sandbox_lats = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        sb.run(prep, stdin=b"{}", limits=RunLimits(fuel=10_000_000))
        sandbox_lats.append(time.perf_counter() - t)
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    return statistics.median(lats), _p(lats, 0.99), statistics.median(sandbox_lats)


def _p(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def wrk(url: str, seconds: int = 5, conns: int = 8) -> dict:
    lua = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    lua.write('wrk.method = "POST"\nwrk.body = "{}"\n')
    lua.close()
    cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", lua.name, url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    def lat(tag):
        m = re.search(rf"\s{tag}%\s+([\d.]+)(us|ms|s)", out)
        v, unit = float(m.group(1)), m.group(2)
        return v / {"us": 1e6, "ms": 1e3, "s": 1}[unit]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": lat("50"), "p99": lat("99"), "errors": int(non2xx.group(1)) if non2xx else 0}


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("bench/host.py needs wrk: apt-get install wrk")
    wasm = hostile("ok")
    bare_p50, bare_p99, sb_p50 = bare_loop(wasm)
    print(f"bare wasmtime-py loop (1 core): p50 {bare_p50*1e6:.0f} µs, p99 {bare_p99*1e6:.0f} µs, "
          f"{1/bare_p50:,.0f} req/s")
    print(f"wasmops sandbox.run (stdin/stdout files, limits): p50 {sb_p50*1e6:.0f} µs")

    with tempfile.TemporaryDirectory() as td:
        ws = make_workspace(Path(td) / "ws")
        hp = HostProcess(ws)
        client = hp.start()
        try:
            os.sched_setaffinity(hp.proc.pid, {0})
            for t in subprocess.run(["ps", "-L", "-o", "tid=", "-p", str(hp.proc.pid)], capture_output=True,
                                    text=True).stdout.split():
                os.sched_setaffinity(int(t), {0})
            ref, digest = ws.publish_wasm("trivial", wasm)
            client.deploy("bench", "trivial", ref=ref, digest=digest, limits=LIMITS)
            url = f"{client.url}/run/bench/trivial"
            wrk(url, 2)  # warm-up
            for conns in (1, 8):
                r = wrk(url, 5, conns)
                per_req = 1 / r["rps"]
                print(f"host via HTTP (1 core, wrk -c{conns}): {r['rps']:,.0f} req/s, p50 {r['p50']*1e6:.0f} µs, "
                      f"p99 {r['p99']*1e6:.0f} µs, non-2xx {r['errors']}; per-request cost {per_req*1e6:.0f} µs "
                      f"= {per_req / bare_p50:.2f}× the bare loop")

            # Deploy time: first compile vs redeploy of a known digest from the precompiled cache.
            sb = Sandbox(cache_dir=Path(td) / "cc")
            from wasmops.build import build
            from wasmops.source import load_module_source

            ex = Path(__file__).resolve().parents[1] / "examples" / "greet-c"
            mod = build(load_module_source(ex), Path(td) / "greet-c.wasm").path.read_bytes()
            t = time.perf_counter(); sb.load(mod); first = time.perf_counter() - t
            sb2 = Sandbox(cache_dir=Path(td) / "cc")
            times = []
            for _ in range(20):
                t = time.perf_counter(); sb2.load(mod); times.append(time.perf_counter() - t)
            print(f"deploy compile step ({len(mod)} byte module): first compile {first*1e3:.1f} ms, "
                  f"from precompiled cache {statistics.median(times)*1e3:.2f} ms (compiles: {sb2.compiles})")
            t = time.perf_counter()
            client.deploy("bench", "trivial2", ref=ref, digest=digest, limits=LIMITS)
            print(f"full redeploy through the admin API (pull+verify+policy+cached compile): "
                  f"{(time.perf_counter()-t)*1e3:.1f} ms")
        finally:
            hp.stop()


if __name__ == "__main__":
    main()
