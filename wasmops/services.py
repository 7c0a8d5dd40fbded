"""Start and stop the local services (Prefect server, MLflow UI, host, serve/worker) with PID files
and logs under ``<home>/run`` and ``<home>/logs``, each waited on until it answers its health URL.

Used by ``wasmops up`` / ``down`` / ``status`` and by ``make demo``::

    >>> from wasmops.services import Services                 # doctest: +SKIP
    >>> svc = Services(settings); svc.start_prefect(); svc.start_host()   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from .config import Settings
from .errors import TransientError

# Stop order: the things that run flows go before the server they report to.
STOP_ORDER = ["serve", "mlflow", "host", "prefect"]


def free_port(preferred: int | None = None) -> int:
    if preferred:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Service:
    name: str
    pid: int
    url: str
    health: str
    log: str


class Services:
    def __init__(self, s: Settings):
        self.s = s
        self.run_dir = s.home / "run"
        self.log_dir = s.home / "logs"
        self.record = s.home / "services.json"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)

    # -- bookkeeping -------------------------------------------------------------------------
    def _load(self) -> dict:
        return json.loads(self.record.read_text()) if self.record.exists() else {}

    def _save(self, data: dict) -> None:
        self.record.write_text(json.dumps(data, indent=1))

    def running(self) -> dict[str, Service]:
        out = {}
        for name, d in self._load().get("services", {}).items():
            if _alive(d["pid"]):
                out[name] = Service(**d)
        return out

    def _register(self, svc: Service, **extra) -> None:
        data = self._load()
        data.setdefault("services", {})[svc.name] = svc.__dict__
        data.update(extra)
        self._save(data)
        (self.run_dir / f"{svc.name}.pid").write_text(str(svc.pid))

    def env(self) -> dict:
        env = {**os.environ, "WASMOPS_HOME": str(self.s.home), "PREFECT_HOME": str(self.s.home / "prefect"),
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
               "MLFLOW_DISABLE_TELEMETRY": "true", "PREFECT_LOCAL_STORAGE_PATH": str(self.s.home / "prefect" / "storage"),
               "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true"}
        api = self._load().get("prefect_api_url")
        if api:
            env["PREFECT_API_URL"] = api
        return env

    def _spawn(self, name: str, cmd: list[str], url: str, health: str, timeout: float, **extra) -> Service:
        cur = self.running().get(name)
        if cur:
            return cur
        log = self.log_dir / f"{name}.log"
        fh = open(log, "ab")
        env = self.env()
        if name == "prefect":   # the UI must call this server's API, not 4200's when 4200 was taken
            env["PREFECT_SERVER_UI_API_URL"] = extra["prefect_api_url"]
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        svc = Service(name=name, pid=proc.pid, url=url, health=health, log=str(log))
        self._register(svc, **extra)
        self.wait_healthy(svc, timeout, proc)
        return svc

    def wait_healthy(self, svc: Service, timeout: float, proc: subprocess.Popen | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise TransientError(f"{svc.name} exited with {proc.returncode}; see {svc.log}",
                                     where=svc.name)
            try:
                if httpx.get(svc.health, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TransientError(f"{svc.name} did not answer {svc.health} within {timeout:.0f}s; see {svc.log}",
                             where=svc.name)

    # -- services ------------------------------------------------------------------------------
    def start_prefect(self, port: int | None = None) -> Service:
        port = free_port(port or 4200)
        url = f"http://127.0.0.1:{port}"
        (self.s.home / "prefect").mkdir(parents=True, exist_ok=True)
        return self._spawn("prefect", [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                       "--port", str(port)], url, f"{url}/api/health", 120,
                           prefect_api_url=f"{url}/api")

    def start_host(self, port: int | None = None) -> Service:
        port = free_port(port or 8700)
        url = f"http://127.0.0.1:{port}"
        return self._spawn("host", [_wasmops(), "host", "--port", str(port)], url, f"{url}/readyz", 60)

    def start_mlflow(self, port: int | None = None) -> Service:
        port = free_port(port or 5000)
        url = f"http://127.0.0.1:{port}"
        db = self.s.home / "mlflow.db"
        env_cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                   "--backend-store-uri", f"sqlite:///{db}", "--default-artifact-root",
                   str(self.s.home / "mlartifacts"), "--workers", "1"]
        os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
        return self._spawn("mlflow", env_cmd, url, f"{url}/health", 120, mlflow_url=url)

    def start_serve(self) -> Service:
        """The process that serves the prefect.yaml deployments (schedules and triggers)."""
        api = self._load().get("prefect_api_url", "")
        return self._spawn("serve", [sys.executable, "-m", "flows.serve"], api, api.rstrip("/") + "/health", 120)

    def stop(self, names: list[str] | None = None, timeout: float = 15) -> list[str]:
        stopped = []
        running = self.running()
        for name in STOP_ORDER:
            if names and name not in names or name not in running:
                continue
            _terminate(running[name].pid, timeout)
            stopped.append(name)
        data = self._load()
        for name in stopped:
            data.get("services", {}).pop(name, None)
            (self.run_dir / f"{name}.pid").unlink(missing_ok=True)
        if "prefect" in stopped:
            data.pop("prefect_api_url", None)
        self._save(data)
        return stopped


def _wasmops() -> str:
    cand = Path(sys.executable).with_name("wasmops")
    return str(cand) if cand.exists() else "wasmops"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM the process group, then SIGKILL what ignores it (uvicorn children, mlflow workers)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done == pid:
                    return
            except ChildProcessError:
                if not _alive(pid):
                    return
            time.sleep(0.1)
