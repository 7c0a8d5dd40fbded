"""``bench/fleet.py --events``: how much sooner a fleet-mode release returns when it waits on the agents'
Prefect events than with the /status poll alone.

Starts a real Prefect server (``prefect_test_harness``: a subprocess server on a temporary SQLite
database) and the 127.0.0.1 fleet of ``bench/fleet.py`` (N hosts + agents, ``--interval 1s``, all
``env=edge``), the agents with ``PREFECT_API_URL`` pointing at that server so that each emits
``wasmops.agent.reconciled`` (flows/agent_events.py). Per round: publish a new digest of a WAT module
written here (it prints ``{"round": "<tag>"}``), commit + push its manifest, then, as ``await-fleet``
does after its commit, three waiters start at once on the same round, each on the production code path:

- ``events``: ``with AgentEvents(labels, key) as wake: await_serving(..., poll_s=FALLBACK_POLL_S (2 s),
  wake=wake)`` (tasks/release.py ``await_fleet``; subscribing is part of its time);
- ``poll 2s``: ``await_serving(..., poll_s=FALLBACK_POLL_S)``, the same wait with no events;
- ``poll 0.5s``: ``await_serving(..., poll_s=PLAIN_POLL_S)``, what the release does with no Prefect API;

while the main thread times the ground truth as the fleet bench does: until every host's admin API
lists the new digest, polled every 20 ms (``t_serving``: when the last host was first seen serving it;
one persistent admin client per host, so that a look costs a few ms, not the ~30 ms of a new client). Per waiter: ``t_return - t_serving``, the
time the release learns later than the fleet serves. Prints median and max per mode and the ratio of
the medians events / poll 2 s, with the load average.
"""

from __future__ import annotations

import contextvars
import os
import statistics
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from fleet import Loopback

from tasks.fleet_events import FALLBACK_POLL_S, PLAIN_POLL_S, AgentEvents
from wasmops.fleet.status import await_serving

KEY = "edge/web"
LABELS = {"team": "fleet", "project": "agents", "env": "edge"}       # Fleet.manifest's labels for env=edge
MODES = ("events", "poll 2s", "poll 0.5s")


@contextmanager
def prefect_server(home: Path):
    """A real Prefect server for this run; yields its API URL (also this process's PREFECT_API_URL)."""
    os.environ.update(PREFECT_HOME=str(home), PREFECT_LOGGING_LEVEL="WARNING",
                      PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="300",
                      PREFECT_SERVER_ANALYTICS_ENABLED="false")      # no telemetry writes to the SQLite db
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=300):
        yield PREFECT_API_URL.value()


def wait(mode: str, agents: list[str], digest: str, t0: float, out: dict, labels: dict = LABELS) -> None:
    """One waiter, as the release's ``await-fleet`` waits (started right after the push)."""
    if mode == "events":
        pauses: list[tuple[float, bool]] = []     # (when each wait between looks ended, woken by an event?)

        def pause(seconds: float) -> bool:
            hit = wake(seconds)
            pauses.append((time.perf_counter() - t0, hit))
            return hit

        with AgentEvents(labels, KEY) as wake:
            subscribed_s = time.perf_counter() - t0
            r = await_serving(agents, KEY, digest, labels=labels, timeout_s=120, poll_s=FALLBACK_POLL_S, wake=pause)
            out[mode] = dict(t=time.perf_counter() - t0, r=r, subscribed=wake.subscribed, error=wake.error,
                             received=wake.received, subscribed_s=subscribed_s, last=pauses[-1] if pauses else None)
        return
    poll_s = FALLBACK_POLL_S if mode == "poll 2s" else PLAIN_POLL_S
    r = await_serving(agents, KEY, digest, labels=labels, timeout_s=120, poll_s=poll_s)
    out[mode] = dict(t=time.perf_counter() - t0, r=r)


def one_round(f, tag: str, agents: list[str] | None = None, labels: dict = LABELS) -> dict:
    """One round on fleet ``f`` (``Loopback``, or ``Namespaced`` with its ``agents`` /status URLs)."""
    digest, commit = f.release(tag, f'{{"round":"{tag}"}}')
    agents = agents or [n.agent_url for n in f.nodes]
    clients = [n.client for n in f.nodes]              # made before t0 (a Namespaced node makes a new one each time)
    t0 = time.perf_counter()          # the commit and push are part of every time, as in the fleet bench
    commit()
    out: dict = {}
    threads = [threading.Thread(target=contextvars.copy_context().run, args=(wait, m, agents, digest, t0, out, labels))
               for m in MODES]
    for t in threads:
        t.start()
    out["serving"] = serving(clients, digest, t0)
    for t in threads:
        t.join(150)
    for c in clients:
        c.http.close()
    missing = [m for m in MODES if m not in out or not out[m]["r"].done]
    if missing:
        raise SystemExit(f"round {tag}: {', '.join(missing)} did not return done: "
                         + "; ".join(out[m]["r"].summary() for m in missing if m in out))
    return out


def run_events(size: int, rounds: int) -> None:
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="wasmops-fleet-events-") as td:
        with prefect_server(Path(td) / "prefect") as url:
            f = Loopback(Path(td) / "fleet", size, env={"PREFECT_API_URL": url})
            try:
                one_round(f, "web-ev-warm")       # compiles, connects every agent's events client once
                res = [one_round(f, f"web-ev-{i}") for i in range(rounds)]
                check = check_cost([n.client for n in f.nodes])
            finally:
                f.close()
    report(size, rounds, res, check, load0, os.getloadavg())


def serving(clients: list, digest: str, t0: float, timeout: float = 120.0) -> float:
    """Seconds from ``t0`` until the last host's admin API lists ``digest`` for KEY (each host polled
    every 20 ms until first seen serving it)."""
    seen: dict[int, float] = {}
    while len(seen) < len(clients):
        for i, c in enumerate(clients):
            if i not in seen and any(f"{m['namespace']}/{m['name']}" == KEY and m["digest"] == digest
                                     for m in c.modules()):
                seen[i] = time.perf_counter() - t0
        if time.perf_counter() - t0 > timeout:
            raise SystemExit(f"only {len(seen)} of {len(clients)} hosts serve {digest} after {timeout:g}s")
        time.sleep(0.02)
    return max(seen.values())


def check_cost(clients: list, n: int = 20) -> float:
    """Seconds one look at one host's admin API takes: with the 20 ms pause, how late ``t_serving`` may be."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        clients[0].modules()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def report(size: int, rounds: int, res: list[dict], check: float, load0, load1,
           where: str = "on 127.0.0.1 (interval 1s), agents emitting to a Prefect server of this run") -> None:
    print(f"{size} hosts + {size} agents {where}; "
          f"data: a WAT module written by the bench (prints {{\"round\": tag}}), a new digest each round; "
          f"{rounds} rounds, the 3 waiters on the same round")
    print(f"  commit → every host serving (20 ms polling): median {statistics.median(r['serving'] for r in res):.2f} s "
          f"(max {max(r['serving'] for r in res):.2f}); one look at a host takes {1000 * check:.0f} ms, "
          f"so t_serving may be up to {1000 * (check * size + 0.02):.0f} ms late (a delay below that is 0 within the resolution)")
    med = {}
    for m in MODES:
        delay = [r[m]["t"] - r["serving"] for r in res]
        back = [r[m]["t"] for r in res]
        med[m] = statistics.median(delay)
        extra = ""
        if m == "events":
            ev = [r[m] for r in res]
            extra = (f"; subscribed {sum(e['subscribed'] for e in ev)}/{rounds} rounds "
                     f"(median {statistics.median(e['subscribed_s'] for e in ev):.2f} s after the push), "
                     f"looks {sum(e['r'].polls for e in ev)} of which {sum(e['r'].woken for e in ev)} woken by an event, "
                     f"{sum(e['received'] for e in ev)} matching events")
            woke = [(e["last"][0] - r["serving"], e["t"] - e["last"][0]) for e, r in zip(ev, res)
                    if e["last"] and e["last"][1]]          # rounds whose last look came on an event
            if woke:
                extra += (f"; {len(woke)}/{rounds} rounds' last look came on an event, that event's wake "
                          f"median {statistics.median(w[0] for w in woke):.2f} s after every host served "
                          f"(max {max(w[0] for w in woke):.2f}), then the look at all /status "
                          f"{statistics.median(w[1] for w in woke):.2f} s")
            errs = {e["error"] for e in ev if e["error"]}
            extra += f"; errors: {', '.join(errs)}" if errs else ""
        else:
            extra = f"; looks {sum(r[m]['r'].polls for r in res)}"
        print(f"  {m:>9}: commit → await_serving done median {statistics.median(back):.2f} s (max {max(back):.2f}); "
              f"after every host serves: median {med[m]:.2f} s (max {max(delay):.2f}){extra}")
    back = {m: statistics.median(r[m]["t"] for r in res) for m in MODES}
    print(f"  events / poll 2s: median delay after serving {ratio(med['events'], med['poll 2s'])}, "
          f"median commit → done {ratio(back['events'], back['poll 2s'])}; events / poll 0.5s: "
          f"{ratio(med['events'], med['poll 0.5s'])} and {ratio(back['events'], back['poll 0.5s'])}")
    print(f"  load average (1, 5, 15 min): before {'/'.join(f'{x:.1f}' for x in load0)}, "
          f"after {'/'.join(f'{x:.1f}' for x in load1)}; {os.cpu_count()} cores")


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b > 0 else "n/a"
