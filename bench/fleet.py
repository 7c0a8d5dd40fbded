"""Fleet benchmark: from a commit pushed to the GitOps remote to every matching host serving it.

Starts a bare Git remote, N hosts (``wasmops host``) and their agents (``wasmops agent --selector
env=edge --interval 1s``) as processes on 127.0.0.1, all matching. Then, per round: publish a new
digest, commit + push it, and time until every host's admin API lists the new digest (polling every
20 ms). Twice per size: once waiting for the interval, once with a webhook to every agent right after
the push. Last, the agents' idle CPU: CPU seconds used by all agents over 10 s with nothing to do.
Prints figures; asserts only that every host converges.

Run: .venv/bin/python bench/fleet.py [N ...]     (default: 3)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_agent_support import SECRET, make_fleet, wait_for  # noqa: E402

ROUNDS = 3


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0   # utime + stime, in clock ticks (100 Hz)


def converge(fleet, digest: str, t0: float) -> float:
    """Seconds from ``t0`` until every host lists ``digest``."""
    wait_for("every host serves the new digest",
             lambda: all(n.served().get("edge/web") == digest for n in fleet.nodes), timeout=120, every=0.02)
    return time.perf_counter() - t0


def rounds(fleet, size: int, webhook: bool) -> list[float]:
    out = []
    for i in range(ROUNDS):
        tag = f"web-{size}-{'hook' if webhook else 'poll'}-{i}"
        digest = fleet.publish(tag, f'{{"round":"{tag}"}}')
        t0 = time.perf_counter()      # the commit and push are part of the time
        fleet.commit(fleet.manifest("edge/web", tag, digest, "edge"), tag)
        if webhook:
            for n in fleet.nodes:
                httpx.post(n.agent_url + "/webhook", headers={"X-Wasmops-Secret": SECRET}, timeout=5)
        out.append(converge(fleet, digest, t0))
    return out


def run(size: int) -> None:
    with tempfile.TemporaryDirectory(prefix="wasmops-fleet-") as td:
        fleet = make_fleet(Path(td))
        try:
            for i in range(size):
                n = fleet.add_node(f"edge-{i}", "-l", "env=edge", "--interval", "1s")
                fleet.start_host(n)
                fleet.start_agent(n)
            warm = fleet.publish("web-warm", '{"warm":1}')
            fleet.commit(fleet.manifest("edge/web", "web-warm", warm, "edge"), "warm up")
            converge(fleet, warm, time.perf_counter())
            poll, hook = rounds(fleet, size, False), rounds(fleet, size, True)
            pids = [n.agent_proc.pid for n in fleet.nodes]
            before, t0 = [cpu_seconds(p) for p in pids], time.perf_counter()
            time.sleep(10)      # measuring idle CPU over a fixed window is the point here
            used = sum(cpu_seconds(p) - b for p, b in zip(pids, before)) / (time.perf_counter() - t0)
        finally:
            fleet.close()
    print(f"{size} hosts + {size} agents (interval 1s): commit → all serving: "
          f"median {statistics.median(poll):.2f} s (max {max(poll):.2f}) waiting for the interval; "
          f"median {statistics.median(hook):.2f} s (max {max(hook):.2f}) with a webhook; {ROUNDS} rounds each")
    print(f"  idle agents: {100 * used:.1f} % of one core for all {size} together "
          f"({100 * used / size:.2f} % each), polling Git every 1 s")


if __name__ == "__main__":
    for size in [int(a) for a in sys.argv[1:]] or [3]:
        run(size)
