"""``bench/fleet.py --events --netns``: the waits of ``bench/fleet_wait.py`` on the network-namespace fleet.

The same rounds and table as ``--events`` on 127.0.0.1 (three waiters on the same round: ``AgentEvents``
+ the 2 s fallback poll, the plain 2 s poll, the plain 0.5 s poll; ground truth: the last host's admin
API listing the new digest, 20 ms polling), on ``bench/fleet.py``'s ``Namespaced`` fleet
(tests/support/netns.py ``net_fleet``: each host + agent on a machine of its own, a network namespace on
a bridge; Git and the registry on the bridge address). The Prefect server (``prefect_test_harness``)
listens on the root namespace's 127.0.0.1 only, so a TCP relay (tests/support/netns_release.py
``Relay``, in a process of its own so that its threads do not share the bench's GIL with the waiters)
forwards the bridge address to it. The agents, started by ``net_fleet`` without a Prefect API, are
restarted with ``PREFECT_API_URL`` = the relay's URL (as the fixture ``agents_emit_to`` of
tests/ops/test_fleet_release_netns.py does). The waiters run here, in the root namespace, against the
agents' ``/status`` at the machines' addresses; the agents report their hosts at the machines' addresses.

Everything is removed afterwards, also on failure: the relay process and the Prefect server are stopped,
and ``net_fleet`` stops the processes and removes the namespaces, veths, bridge and iptables rules.
Needs root (CAP_NET_ADMIN).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from fleet import Namespaced
from fleet_wait import check_cost, one_round, prefect_server, report

LABELS = {"team": "fleet", "project": "netns", "env": "edge"}      # NetFleet.commit's labels for env=edge
TESTS = Path(__file__).resolve().parents[1] / "tests"
RELAY = """
import sys
sys.path.insert(0, sys.argv[1])
from support.netns_release import Relay
r = Relay(sys.argv[2], sys.argv[3])
print(r.url, flush=True)
sys.stdin.read()          # until the bench closes stdin (or ends)
r.close()
"""


@contextmanager
def relay(listen_host: str, target: str):
    """A TCP relay process from ``listen_host`` (a free port) to ``target``; yields the relayed URL."""
    p = subprocess.Popen([sys.executable, "-c", RELAY, str(TESTS), listen_host, target],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = p.stdout.readline().strip()
        if not url.startswith("http"):
            raise SystemExit(f"the relay {listen_host} → {target} did not start (exit {p.poll()})")
        yield url
    finally:
        p.stdin.close()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def emit_to(f: Namespaced, url: str) -> None:
    """Restart every agent with ``PREFECT_API_URL`` = ``url``; wait until each answers /status again."""
    from support.netns import stop_process
    from test_agent_support import wait_for

    f.fleet.env["PREFECT_API_URL"] = url
    for n in f.nodes:
        stop_process(n.agent)
        f.fleet.start_agent(n)
    for n in f.nodes:
        wait_for(f"{n.m.name}'s agent /status (restarted to emit events)", n.status, 60)
    f.agent_pids = [n.agent.pid for n in f.nodes]


def run_netns_events(size: int, rounds: int) -> None:
    from support.netns import AGENT_PORT

    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="wasmops-fleet-netns-events-") as td:
        with prefect_server(Path(td) / "prefect") as api:
            f = Namespaced(Path(td) / "fleet", size)
            try:
                with relay(f.fleet.net.gateway, api) as url:
                    emit_to(f, url)
                    agents = [f"http://{n.m.ip}:{AGENT_PORT}" for n in f.nodes]
                    one_round(f, "web-ev-warm", agents, LABELS)   # compiles, connects every agent's events client
                    res = [one_round(f, f"web-ev-{i}", agents, LABELS) for i in range(rounds)]
                    clients = [n.client for n in f.nodes]
                    check = check_cost(clients)
                    for c in clients:
                        c.http.close()
            finally:
                f.close()
    report(size, rounds, res, check, load0, os.getloadavg(),
           where="each on its own network namespace (interval 1s), agents emitting through a relay on the "
                 "bridge to a Prefect server of this run on the root namespace's 127.0.0.1, waiters on the root namespace")
