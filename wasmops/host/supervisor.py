"""``wasmops host --workers N``: a supervisor and N worker processes sharing the port.

The supervisor does not serve HTTP. It

* reserves the port (a bound ``SO_REUSEPORT`` socket that never listens, so a port taken by
  someone else is an error at once) and starts N workers (``workers.py``), each listening on
  its own ``SO_REUSEPORT`` socket: the kernel spreads connections over them;
* owns the ``Runtime`` that admits modules and writes the host state (one file, one writer).
  Workers forward ``/admin/*``; the supervisor applies a change once, then sends every worker
  the new desired state and answers only when **every** worker has acknowledged that it serves
  it (a worker starting or restarting listens only after its first sync, so it cannot serve an
  older state either);
* answers ``/metrics`` for whichever worker was asked: the sum of every worker's counters and
  histograms plus its own (admissions, at-rest failures), see ``aggregate.py``; a worker that
  exited still counts (its last snapshot, refreshed every ``aggregate.REFRESH_S``);
* restarts a worker that dies (backoff up to ``MAX_BACKOFF_S``), and on SIGTERM/SIGINT stops
  every worker (they finish the requests in flight) and then itself.

The compile cache is shared: the supervisor compiles a module at admission and stores it; the
workers load the authenticated precompiled file.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import UserError
from .aggregate import REFRESH_S, Retired, merge, render, snapshot
from .control import Channel, ChannelClosed, RemoteError
from .counters import SharedCounters
from .http import Request, json_response
from .integrity import host_key
from .sched import DEFAULT_POOL_NICE
from .server import HostApp
from .workers import desired_state, reuseport_socket

SYNC_TIMEOUT_S = 120.0       # a worker that cannot apply a change in this time is restarted
STOP_TIMEOUT_S = 12.0        # then SIGKILL
MAX_BACKOFF_S = 5.0


@dataclass
class WorkerProc:
    index: int
    proc: subprocess.Popen
    chan: Channel | None = None
    last: dict | None = None          # the last snapshot reply (metrics, shed, compiles)
    started: float = field(default_factory=time.monotonic)


@dataclass
class WorkerConfig:
    bind: str
    port: int
    state_dir: Path
    cache_dir: Path
    keys_dir: Path
    threads: int = 8
    pool_nice: int = DEFAULT_POOL_NICE


class Supervisor:
    def __init__(self, n: int, cfg: WorkerConfig, token: str):
        self.n, self.cfg, self.token = n, cfg, token
        self.workers: dict[int, WorkerProc] = {}
        self._socks: dict[int, socket.socket] = {}
        self.retired = Retired()
        self.gen = 0
        self.restarts = 0
        self.stopping = False
        self.rt = self.app = None
        self.canary_slots: dict[str, tuple[int, str]] = {}
        self._changing = 0                          # admin changes between their apply and every worker's ack
        _sweep_counters(Path(cfg.state_dir))
        self.counters = SharedCounters.create(str(Path(cfg.state_dir) / f".canary-counters-{os.getpid()}"))

    # -- processes -----------------------------------------------------------------------------
    def spawn(self, i: int) -> WorkerProc:
        mine, theirs = socket.socketpair()
        c = self.cfg
        cmd = [sys.executable, "-m", "wasmops.host.workers", "--control-fd", str(theirs.fileno()), "--index", str(i),
               "--bind", c.bind, "--port", str(c.port), "--state", str(c.state_dir), "--cache", str(c.cache_dir),
               "--keys", str(c.keys_dir), "--threads", str(c.threads), "--pool-nice", str(c.pool_nice),
               "--parent", str(os.getpid()), "--counters", self.counters.path]
        try:
            proc = subprocess.Popen(cmd, pass_fds=(theirs.fileno(),))
        finally:
            theirs.close()
        self._socks[i] = mine
        wp = self.workers[i] = WorkerProc(i, proc)
        return wp

    async def attach(self, wp: WorkerProc) -> None:
        """Open the worker's channel and send it the current state (it listens once applied)."""
        wp.chan = await Channel.open(self._socks.pop(wp.index), self.handle)
        asyncio.ensure_future(self._watch(wp))
        asyncio.ensure_future(self._sync_one(wp, self._sync_msg()))

    async def _watch(self, wp: WorkerProc) -> None:
        await wp.chan.closed.wait()
        loop = asyncio.get_running_loop()
        code = await loop.run_in_executor(None, wp.proc.wait)
        self.retired.fold(wp.last and wp.last.get("metrics"))
        wp.last = None
        if self.stopping or self.workers.get(wp.index) is not wp:
            return
        alive = time.monotonic() - wp.started
        delay = 0.0 if alive > 10 else min(MAX_BACKOFF_S, 0.2 * 2 ** min(self.restarts, 5))
        print(f"wasmops host: worker {wp.index} (pid {wp.proc.pid}) exited with {code}; restarting"
              f"{f' in {delay:.1f} s' if delay else ''}", file=sys.stderr, flush=True)
        self.restarts += 1
        if delay:
            await asyncio.sleep(delay)
        if not self.stopping:
            await self.attach(self.spawn(wp.index))

    def _attached(self) -> list[WorkerProc]:
        return [w for w in self.workers.values() if w.chan is not None and not w.chan.closed.is_set()]

    # -- state to every worker -----------------------------------------------------------------
    def _sync_msg(self) -> dict:
        self.gen += 1
        msg = {"op": "sync", "gen": self.gen, "token": self.token, **desired_state(self.rt)}
        for key, can in msg["canaries"].items():
            can["slot"] = self._canary_slot(key, can["deployment"]["digest"])
        for key, (slot, _seen) in list(self.canary_slots.items()):
            if key not in msg["canaries"]:
                self.canary_slots[key] = (slot, None)      # gone: a canary set again starts at 0
        return msg

    def _canary_slot(self, key: str, digest: str) -> int:
        """The shared counter of ``key``'s canary; a new canary digest starts it at 0 (as one process did)."""
        slot, seen = self.canary_slots.get(key, (None, None))
        if slot is None:
            slot = len(self.canary_slots) % self.counters.slots
        if seen != digest:
            self.counters.reset(slot)
            self.canary_slots[key] = (slot, digest)
        return slot

    async def _sync_one(self, wp: WorkerProc, msg: dict) -> None:
        try:
            await wp.chan.request(msg, timeout=SYNC_TIMEOUT_S)
        except ChannelClosed:
            pass           # it died: a restarted worker syncs before it listens
        except (asyncio.TimeoutError, RemoteError) as exc:
            print(f"wasmops host: worker {wp.index} did not apply state {msg['gen']} ({exc!r}); restarting it",
                  file=sys.stderr, flush=True)
            wp.proc.kill()

    async def sync_all(self) -> None:
        """Returns once every worker serves the runtime's current state (or was restarted to)."""
        msg = self._sync_msg()
        await asyncio.gather(*(self._sync_one(w, msg) for w in self._attached()))

    # -- what workers ask ----------------------------------------------------------------------
    async def handle(self, msg: dict) -> dict:
        op = msg.get("op")
        if op == "admin":
            return await self._admin(msg["method"], msg["parts"], msg["body"].encode("latin-1"))
        if op == "scrape":
            return {"text": (await self.scrape()).decode()}
        raise ValueError(f"unknown control op {op!r}")

    async def _admin(self, method: str, parts: list[str], body: bytes) -> dict:
        if parts == ["workers"] and method == "GET":
            resp = json_response(200, {"workers": await self.workers_view(), "restarts": self.restarts})
        elif parts == ["events"] and method == "GET":
            events = list(self.rt.events)
            for w in self._attached():
                try:
                    events += [{**e, "worker": w.index} for e in (await w.chan.request({"op": "events"}, timeout=30))["events"]]
                except (ChannelClosed, RemoteError, asyncio.TimeoutError):
                    pass
            resp = json_response(200, {"events": sorted(events, key=lambda e: e["time"])})
        elif parts == ["stats"] and method == "GET":
            await self.refresh()
            lasts = [w.last or {} for w in self.workers.values()]
            resp = json_response(200, {"compiles": self.rt.sandbox.compiles + sum(x.get("compiles", 0) for x in lasts),
                                       "modules": len(self.rt.live), "stalled": len(self.rt.stalled),
                                       "shed": sum(x.get("shed", 0) for x in lasts), "workers": len(self.workers)})
        elif method == "GET":
            resp = await self.app._admin(method, parts, Request(method, "/admin/" + "/".join(parts), {}, body))
        else:
            resp = await self._change(method, parts, body)
        return {"status": resp.status, "body": resp.body.decode("latin-1"), "ctype": resp.ctype.decode(),
                "headers": [[k.decode(), v.decode()] for k, v in resp.headers]}

    async def _change(self, method: str, parts: list[str], body: bytes):
        """Apply an admin change, acknowledged only when every worker serves it; then, unless another
        change is between its apply and its acks (a worker may still load what this one dropped),
        delete what no deployment names any more (``Runtime.prune_store``)."""
        self._changing += 1
        try:
            resp = await self.app._admin(method, parts, Request(method, "/admin/" + "/".join(parts), {}, body))
            await self.sync_all()
        finally:
            self._changing -= 1
        if self._changing == 0:
            await asyncio.get_running_loop().run_in_executor(self.app.admin_pool, self.rt.prune_store)
        return resp

    async def workers_view(self) -> list[dict]:
        out = []
        for w in sorted(self._attached(), key=lambda w: w.index):
            try:
                info = await w.chan.request({"op": "info"}, timeout=30)
                out.append({**info, "ready": info["listening"]})
            except (ChannelClosed, RemoteError, asyncio.TimeoutError):
                out.append({"index": w.index, "pid": w.proc.pid, "ready": False})
        return out

    async def refresh(self) -> None:
        async def one(w: WorkerProc) -> None:
            try:
                w.last = await w.chan.request({"op": "snapshot"}, timeout=30)
            except (ChannelClosed, RemoteError, asyncio.TimeoutError):
                pass
        await asyncio.gather(*(one(w) for w in self._attached()))

    async def scrape(self) -> bytes:
        await self.refresh()
        self.rt.metrics.expire()
        self.retired.prune(self.rt.metrics.keeps)
        snaps = [snapshot(self.rt.metrics.registry), self.retired.fams]
        snaps += [w.last["metrics"] for w in self.workers.values() if w.last]
        return render(merge(snaps))

    async def _refresh_loop(self) -> None:
        while not self.stopping:
            await asyncio.sleep(REFRESH_S)
            await self.refresh()

    # -- lifetime ------------------------------------------------------------------------------
    async def main(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        for wp in list(self.workers.values()):
            await self.attach(wp)
        refresher = asyncio.ensure_future(self._refresh_loop())
        await stop.wait()
        self.stopping = True
        refresher.cancel()
        for w in self._attached():
            try:
                w.chan.send({"op": "stop"})
            except ChannelClosed:
                pass
        await loop.run_in_executor(None, self._reap)

    def _reap(self) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for w in self.workers.values():
            try:
                w.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()


def _sweep_counters(state_dir: Path) -> None:
    """Counter files left by supervisors that were killed (their pid is gone)."""
    for f in state_dir.glob(".canary-counters-*"):
        pid = f.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            f.unlink(missing_ok=True)


def serve_workers(n: int, cfg: WorkerConfig, token: str, open_runtime: Callable[[], object]) -> None:
    """Run the supervisor and ``n`` workers until SIGINT/SIGTERM. The workers start while the
    supervisor opens its runtime (restore), and listen once they serve its state."""
    import uvloop

    try:
        reserve = reuseport_socket(cfg.bind, cfg.port, listen=False)   # the port is ours, or an error now
    except OSError as exc:
        raise UserError(f"cannot listen on {cfg.bind}:{cfg.port}: {exc.strerror}", where=f"{cfg.bind}:{cfg.port}",
                        hint="another process holds the port: stop it or pass --port") from None
    host_key(cfg.state_dir)                                         # one key, made before any worker reads it
    sup = Supervisor(n, cfg, token)
    try:
        for i in range(n):
            sup.spawn(i)
        sup.rt = open_runtime()
        sup.app = HostApp(sup.rt, token, workers=1)
        sup.app.prune_after_admin = False          # pruned once every worker serves the change (_admin)
        uvloop.run(sup.main())
    finally:
        sup.stopping = True
        for w in sup.workers.values():
            if w.proc.poll() is None:
                w.proc.terminate()
        sup._reap()
        if sup.app is not None:
            sup.app.close()
        if sup.rt is not None:
            sup.rt.close()
        reserve.close()
        sup.counters.close()
        Path(sup.counters.path).unlink(missing_ok=True)
