"""One worker process of a multi-process host (``wasmops host --workers N``, see ``supervisor.py``).

A worker serves ``POST /run`` from its own ``Runtime`` (its own wasmtime engine, epoch ticker,
pool and module I/O directory) on its own ``SO_REUSEPORT`` socket: the kernel spreads new
connections over the workers. It never writes the host state and never admits anything:

* what it serves comes from the supervisor as a ``sync`` message (the whole desired state:
  live deployments, stalled ones, canaries with their weights). The worker loads each new
  deployment from the stored, verified blob (at-rest check, precompiled cache shared by all
  processes), swaps its tables on the event loop in one step and answers with the generation it
  now serves. It starts listening only after its first sync, so a (re)started worker never serves
  an older state than the supervisor has acknowledged;
* ``/admin/*`` (after the token check) and ``/metrics`` are forwarded to the supervisor, which
  applies admin changes once, syncs every worker, and sums every process's metrics;
* it exits when the supervisor goes away (the control channel closes; ``PR_SET_PDEATHSIG`` too).

Run by the supervisor only: ``python -m wasmops.host.workers --control-fd FD ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import signal
import socket
import sys
from pathlib import Path

from wasmops.wasm.sandbox import Sandbox
from .aggregate import snapshot
from .canary import CanarySlot
from .control import Channel
from .http import Request, Response
from .integrity import LOAD_FAILED, AtRestError, AuthenticatedCache, host_key
from .runtime import Live, Runtime, Stall, _ts
from .sched import DEFAULT_POOL_NICE, favour_event_loop
from .server import METRICS_CTYPE, HostApp
from .state import Deployment, HostState

FORWARD_TIMEOUT_S = 300.0


def pool_slots(threads: int) -> int:
    """Instances a serving process runs at once: its pool threads, the inline run, and a margin."""
    return threads + 4   # an admin call waits for admission (registry pulls) and every worker's ack


def desired_state(rt: Runtime) -> dict:
    """What the supervisor's runtime serves, as a ``sync`` message body (JSON-able)."""
    with rt._deploy_lock:
        live = {k: lv.deployment.model_dump(mode="json") for k, lv in list(rt.live.items())}
        stalled = {k: {"deployment": s.deployment.model_dump(mode="json"), "reason": s.reason,
                       "message": s.message, "since": s.since} for k, s in list(rt.stalled.items())}
        canaries = {k: {"deployment": s.live.deployment.model_dump(mode="json"), "weight": s.weight}
                    for k, s in list(rt.canaries.items())}
    return {"live": live, "stalled": stalled, "canaries": canaries}


def _ident(dep: Deployment) -> str:
    return json.dumps(dep.model_dump(mode="json"), sort_keys=True)


def _load_all(rt: Runtime, deps: list[Deployment]) -> dict[str, Live | Stall]:
    """Load each deployment from its stored blob (at-rest checked); a failure is a local ``Stall``."""
    out: dict[str, Live | Stall] = {}
    for dep in deps:
        try:
            out[_ident(dep)] = rt._load(dep, rt._stored_wasm(dep))
        except AtRestError as exc:
            rt._stall(dep, exc.reason, exc.message)
            out[_ident(dep)] = rt.stalled.pop(dep.key)
        except Exception as exc:  # noqa: BLE001 - a module that cannot load is not served; the rest is
            rt._stall(dep, LOAD_FAILED, str(exc))
            out[_ident(dep)] = rt.stalled.pop(dep.key)
    return out


async def apply_sync(rt: Runtime, msg: dict, pool, counters=None) -> None:
    """Make ``rt`` serve exactly ``msg``'s state: load what is new, then swap the tables at once."""
    want = {k: Deployment.model_validate(v) for k, v in msg["live"].items()}
    want_can = {k: (Deployment.model_validate(v["deployment"]), v["weight"]) for k, v in msg["canaries"].items()}
    slots = {k: v.get("slot") for k, v in msg["canaries"].items()}
    have: dict[str, Live] = {_ident(lv.deployment): lv for lv in rt.live.values()}
    have.update({_ident(s.live.deployment): s.live for s in rt.canaries.values()})
    missing = {_ident(d): d for d in [*want.values(), *(d for d, _ in want_can.values())] if _ident(d) not in have}
    loaded = await asyncio.get_running_loop().run_in_executor(pool, _load_all, rt, list(missing.values()))
    have.update(loaded)
    stalled = {k: Stall(Deployment.model_validate(v["deployment"]), v["reason"], v["message"], v["since"])
               for k, v in msg["stalled"].items()}
    live: dict[str, Live] = {}
    for k, dep in want.items():
        got = have[_ident(dep)]
        if isinstance(got, Live):
            live[k] = got
        else:
            stalled[k] = got
    canaries: dict[str, CanarySlot] = {}
    for k, (dep, weight) in want_can.items():
        got = have[_ident(dep)]
        if k not in live or not isinstance(got, Live):
            continue
        old = rt.canaries.get(k)
        if old is not None and old.live is got:
            old.weight = weight          # same canary: its counter goes on
            canaries[k] = old
        else:
            canaries[k] = CanarySlot(got, weight)
        if counters is not None and slots[k] is not None:
            canaries[k].shared = (counters, slots[k])
    _swap_metrics(rt, live, canaries)
    rt.live, rt.canaries, rt.stalled = live, canaries, stalled
    rt.ready = True


def _swap_metrics(rt: Runtime, live: dict, canaries: dict) -> None:
    before = {_ident(lv.deployment): lv.deployment for lv in [*rt.live.values(), *(s.live for s in rt.canaries.values())]}
    after = {_ident(lv.deployment): lv.deployment for lv in [*live.values(), *(s.live for s in canaries.values())]}
    for ident, dep in before.items():
        if ident not in after:
            rt.metrics.undeployed(dep)
    for ident, dep in after.items():
        if ident not in before:
            rt.metrics.deployed_module(dep, _ts(dep.deployed_at))


class WorkerApp(HostApp):
    """``HostApp`` whose admin routes and ``/metrics`` are answered by the supervisor."""

    chan: Channel

    async def _admin(self, method: str, parts: list[str], req: Request) -> Response:
        reply = await self.chan.request({"op": "admin", "method": method, "parts": parts,
                                         "body": req.body.decode("latin-1")}, timeout=FORWARD_TIMEOUT_S)
        return Response(reply["status"], reply["body"].encode("latin-1"), reply["ctype"].encode(),
                        [(k.encode(), v.encode()) for k, v in reply["headers"]])

    def metrics_response(self):
        return self._scrape()

    async def _scrape(self) -> Response:
        reply = await self.chan.request({"op": "scrape"}, timeout=60)
        return Response(200, reply["text"].encode(), METRICS_CTYPE)


class Worker:
    def __init__(self, app: WorkerApp, index: int):
        self.app, self.rt, self.index = app, app.rt, index
        self.counters = None
        self.gen = 0
        self.listening = False
        self.synced = asyncio.Event()
        self.stop = asyncio.Event()
        self._lock = asyncio.Lock()

    async def handle(self, msg: dict) -> dict:
        op = msg.get("op")
        if op == "sync":
            async with self._lock:          # one sync at a time, never an older one after a newer
                if msg["gen"] > self.gen or not self.synced.is_set():
                    self.app.token = msg["token"].encode()
                    await apply_sync(self.rt, msg, self.app.admin_pool, self.counters)
                    self.gen = msg["gen"]
                    self.synced.set()
            return {"gen": self.gen}
        if op == "snapshot":
            self.rt.metrics.expire()
            return {"metrics": snapshot(self.rt.metrics.registry), "shed": self.app.sched.shed,
                    "compiles": self.rt.sandbox.compiles}
        if op == "info":
            return {"index": self.index, "pid": os.getpid(), "gen": self.gen, "listening": self.listening,
                    "modules": {k: lv.deployment.digest for k, lv in self.rt.live.items()},
                    "canaries": {k: s.live.deployment.digest for k, s in self.rt.canaries.items()},
                    "stalled": sorted(self.rt.stalled), "invocations": self.rt.metrics.runs.count()}
        if op == "events":
            return {"events": list(self.rt.events)}
        if op == "stop":
            self.stop.set()
            return {}
        raise ValueError(f"unknown control op {op!r}")


def reuseport_socket(host: str, port: int, *, listen: bool = True) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if not listen:      # the supervisor's reservation: the port must be free, not shared with another host
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    if listen:
        sock.listen(1024)
        sock.setblocking(False)
    return sock


async def _serve(app: WorkerApp, args) -> None:
    from .http import serve_socket

    favour_event_loop()                 # this thread runs the event loop (sched.py)
    w = Worker(app, args.index)
    if args.counters:
        from .counters import SharedCounters

        w.counters = SharedCounters(args.counters)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, w.stop.set)
    app.chan = await Channel.open(socket.socket(fileno=args.control_fd), w.handle)
    closed = asyncio.ensure_future(app.chan.closed.wait())
    first = asyncio.ensure_future(w.synced.wait())
    await asyncio.wait([closed, first], return_when=asyncio.FIRST_COMPLETED)
    if not w.synced.is_set():
        return
    closed.add_done_callback(lambda _: w.stop.set())     # the supervisor went away: stop
    sock = reuseport_socket(args.bind, args.port)
    w.listening = True
    try:
        await serve_socket(app, sock, w.stop)
    finally:
        sock.close()
        app.chan.close()


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)      # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> None:
    import uvloop

    p = argparse.ArgumentParser(prog="wasmops.host.workers")
    p.add_argument("--control-fd", type=int, required=True)
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--state", type=Path, required=True)
    p.add_argument("--cache", type=Path, required=True)
    p.add_argument("--keys", type=Path, required=True)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--pool-nice", type=int, default=DEFAULT_POOL_NICE)
    p.add_argument("--parent", type=int, default=0)
    p.add_argument("--counters", default="")
    args = p.parse_args(argv)
    _die_with_parent()
    if args.parent and os.getppid() != args.parent:
        sys.exit("wasmops host worker: the supervisor is gone")
    from wasmops.supply.signing import Keyring

    cache = AuthenticatedCache(args.cache, host_key(args.state))
    rt = Runtime(HostState(args.state), Sandbox(cache=cache, pool_slots=pool_slots(args.threads)),
                 keyring=Keyring.from_dir(args.keys), policy=lambda: None)
    cache.on_reject = rt._compiled_rejected
    app = WorkerApp(rt, "", workers=args.threads, pool_nice=args.pool_nice)
    try:
        uvloop.run(_serve(app, args))
    finally:
        app.close()
        rt.close()


if __name__ == "__main__":
    main()
