"""Fleet benchmark: from a commit pushed to the GitOps remote to every matching host serving it.

Starts a bare Git remote, N hosts (``wasmops host``) and their agents (``wasmops agent --selector
env=edge --interval 1s``) as processes on 127.0.0.1, all matching. Then, per round: publish a new
digest, commit + push it, and time until every host's admin API lists the new digest (polling every
20 ms). Twice per size: once waiting for the interval, once with a webhook to every agent right after
the push. Last, the agents' idle CPU: CPU seconds used by all agents over 10 s with nothing to do.
Prints figures; asserts only that every host converges.

With ``--netns`` (root; tests/support/netns.py) each host and its agent run on their own machine (a
network namespace on a bridge), the agents pull ``git://`` from ``git daemon`` and the hosts pull the
modules from a ``docker-registry`` on the bridge address, as in tests/ops/test_fleet_netns.py.

With ``--events`` only the release-side section runs (bench/fleet_wait.py): a real Prefect server, the
127.0.0.1 fleet's agents emitting ``wasmops.agent.reconciled`` to it, and per round the time a release's
``await_serving`` returns after every host serves, waiting on the agents' events (``AgentEvents``) vs.
the /status poll alone (2 s, and 0.5 s as with no Prefect API); ``--rounds R`` (default 5). ``--events
--netns`` does the same on the namespace fleet, the agents emitting through a relay on the bridge
(bench/fleet_netns_wait.py).

Run: .venv/bin/python bench/fleet.py [--netns] [--events [--rounds R]] [N ...]     (default: 3)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_agent_support import SECRET, make_fleet, wait_for  # noqa: E402

ROUNDS = 3


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0   # utime + stime, in clock ticks (100 Hz)


def converge(nodes, digest: str, t0: float) -> float:
    """Seconds from ``t0`` until every host lists ``digest``."""
    wait_for("every host serves the new digest",
             lambda: all(n.served().get("edge/web") == digest for n in nodes), timeout=120, every=0.02)
    return time.perf_counter() - t0


class Loopback:
    """The fleet as processes on 127.0.0.1 (tests/test_agent_support.py)."""

    def __init__(self, root: Path, size: int, env: dict[str, str] | None = None):
        self.fleet = make_fleet(root)
        self.fleet.env.update(env or {})          # e.g. PREFECT_API_URL for the agents' events
        for i in range(size):
            n = self.fleet.add_node(f"edge-{i}", "-l", "env=edge", "--interval", "1s")
            self.fleet.start_host(n)
            self.fleet.start_agent(n)
        self.nodes = self.fleet.nodes
        self.hooks = [n.agent_url + "/webhook" for n in self.nodes]
        self.agent_pids = [n.agent_proc.pid for n in self.nodes]

    def release(self, tag: str, text: str) -> tuple[str, callable]:
        digest = self.fleet.publish(tag, text)
        return digest, lambda: self.fleet.commit(self.fleet.manifest("edge/web", tag, digest, "edge"), tag)

    def close(self):
        self.fleet.close()


class Namespaced:
    """Each host + agent on its own machine (network namespace); Git and the registry on the bridge."""

    def __init__(self, root: Path, size: int):
        from support.netns import AGENT_PORT, net_fleet

        os.environ["WASMOPS_REGISTRY_INSECURE"] = "1"
        self._cm = net_fleet(root, [(f"edge-{i}", "env=edge") for i in range(size)])
        self.fleet = self._cm.__enter__()
        self.nodes = self.fleet.nodes
        self.hooks = [f"http://{n.m.ip}:{AGENT_PORT}/webhook" for n in self.nodes]
        self.agent_pids = [n.agent.pid for n in self.nodes]

    def release(self, tag: str, text: str) -> tuple[str, callable]:
        digest = self.fleet.publish("fleet/web", tag, text)
        return digest, lambda: self.fleet.commit("edge/web", "fleet/web", tag, digest, "edge", tag)

    def close(self):
        self._cm.__exit__(None, None, None)


def rounds(f, size: int, webhook: bool) -> list[float]:
    out = []
    for i in range(ROUNDS):
        tag = f"web-{size}-{'hook' if webhook else 'poll'}-{i}"
        digest, commit = f.release(tag, f'{{"round":"{tag}"}}')
        t0 = time.perf_counter()      # the commit and push are part of the time
        commit()
        if webhook:
            for url in f.hooks:
                httpx.post(url, headers={"X-Wasmops-Secret": SECRET}, timeout=5)
        out.append(converge(f.nodes, digest, t0))
    return out


@contextmanager
def started(kind, size: int):
    with tempfile.TemporaryDirectory(prefix="wasmops-fleet-") as td:
        f = kind(Path(td), size)
        try:
            yield f
        finally:
            f.close()


def run(size: int, netns: bool) -> None:
    with started(Namespaced if netns else Loopback, size) as f:
        warm, commit = f.release("web-warm", '{"warm":1}')
        commit()
        converge(f.nodes, warm, time.perf_counter())
        poll, hook = rounds(f, size, False), rounds(f, size, True)
        before, t0 = [cpu_seconds(p) for p in f.agent_pids], time.perf_counter()
        time.sleep(10)      # measuring idle CPU over a fixed window is the point here
        used = sum(cpu_seconds(p) - b for p, b in zip(f.agent_pids, before)) / (time.perf_counter() - t0)
    where = "each on its own network namespace" if netns else "on 127.0.0.1"
    print(f"{size} hosts + {size} agents {where} (interval 1s): commit → all serving: "
          f"median {statistics.median(poll):.2f} s (max {max(poll):.2f}) waiting for the interval; "
          f"median {statistics.median(hook):.2f} s (max {max(hook):.2f}) with a webhook; {ROUNDS} rounds each")
    print(f"  idle agents: {100 * used:.1f} % of one core for all {size} together "
          f"({100 * used / size:.2f} % each), polling Git every 1 s")


if __name__ == "__main__":
    args = sys.argv[1:]
    netns, events = "--netns" in args, "--events" in args
    n_rounds = int(args[args.index("--rounds") + 1]) if "--rounds" in args else 5
    if "--rounds" in args:
        del args[args.index("--rounds"):args.index("--rounds") + 2]
    for size in [int(a) for a in args if a not in ("--netns", "--events")] or [3]:
        if events and netns:
            from fleet_netns_wait import run_netns_events

            run_netns_events(size, n_rounds)
        elif events:
            from fleet_wait import run_events

            run_events(size, n_rounds)
        else:
            run(size, netns)
