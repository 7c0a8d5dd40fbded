"""Start and stop the local services (Prefect server, MLflow UI, host, serve/worker) with PID files
and logs under ``<home>/run`` and ``<home>/logs``, each waited on until it answers its health URL.

The Prefect server and MLflow keep their data in SQLite files under ``<home>`` by default; with a
:class:`Database` (``wasmops up --database postgresql://USER[:PASSWORD]@HOST[:PORT]/DB``) both use
PostgreSQL instead: Prefect the database's ``public`` schema, MLflow its own schema ``mlflow``.

Used by ``wasmops up`` / ``down`` / ``status`` and by ``make demo``::

    >>> import tempfile
    >>> from wasmops.config import Settings
    >>> from wasmops.services import Services
    >>> svc = Services(Settings(home=tempfile.mkdtemp()))     # <home>/run and <home>/logs
    >>> svc.running()                                         # nothing started in this workspace yet
    {}

Starting one waits for its health URL (the host answers in seconds, Prefect's server in ~15 s)::

    >>> svc.start_host().health                               # doctest: +SKIP
    'http://127.0.0.1:8700/readyz'
    >>> svc.start_prefect().health                            # doctest: +SKIP
    'http://127.0.0.1:4200/api/health'
    >>> svc.stop()                                            # in STOP_ORDER                   # doctest: +SKIP
    ['host', 'prefect']
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import httpx

from .config import Settings
from .errors import ConfigError, TransientError
from .procs import pid_alive, same_process, start_time, terminate_group

#: Where `wasmops up` puts each service unless asked (a taken one moves to a free port).
DEFAULT_PORTS = {"prefect": 4200, "mlflow": 5000, "host": 8700}
# Stop order: the things that run flows go before the server they report to.
STOP_ORDER = ["serve", "mlflow", "host", "prefect"]


def free_port(preferred: int | None = None, address: str = "127.0.0.1") -> int:
    """``preferred`` when nothing listens on it at ``address``, else a free port there. Connections
    of a stopped server left in TIME-WAIT do not count (SO_REUSEADDR, as the servers themselves bind):
    `up` right after `down` said the port was in use for a minute."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    if preferred:
        with socket.socket(family) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((address, preferred))
                return preferred
            except OSError:
                pass
    with socket.socket(family) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def check_bind(address: str) -> None:
    """A ConfigError naming ``--bind`` unless ``address`` is one this machine can listen on.

    >>> check_bind("127.0.0.1")
    >>> check_bind("192.0.2.77")          # TEST-NET-1: nobody's address
    Traceback (most recent call last):
    ...
    wasmops.errors.ConfigError: --bind: cannot listen on 192.0.2.77 (...)
    """
    import ipaddress

    try:
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    except ValueError:
        raise ConfigError(f"cannot listen on {address!r}: not an IP address", where="--bind",
                          hint="an address of this machine, e.g. 127.0.0.1 or 10.0.0.5") from None
    with socket.socket(family) as s:
        try:
            s.bind((address, 0))
        except OSError as e:
            raise ConfigError(f"cannot listen on {address} ({e.strerror})", where="--bind",
                              hint="an address of this machine (`ip -br addr`)") from None


MLFLOW_SCHEMA = "mlflow"


@dataclass(frozen=True)
class Database:
    """A PostgreSQL database for the Prefect server and MLflow, from ``postgresql://USER[:PW]@HOST[:PORT]/DB``.

    >>> db = Database.parse("postgresql://ops:hunter2@127.0.0.1:5433/wasmops")
    >>> db.redacted
    'postgresql://ops:***@127.0.0.1:5433/wasmops'
    >>> db.sqlalchemy("asyncpg"), db.env()       # the password goes by environment, never on a command line
    ('postgresql+asyncpg://ops@127.0.0.1:5433/wasmops', {'PGPASSWORD': 'hunter2'})
    >>> Database.parse("mysql://ops@db/x")
    Traceback (most recent call last):
    ...
    wasmops.errors.ConfigError: --database mysql://ops@db/x: not a PostgreSQL URL (the scheme must be postgresql://)
    """

    user: str
    password: str | None
    host: str
    port: int
    name: str

    @classmethod
    def parse(cls, url: str) -> "Database":
        where = f"--database {redact_url(url)}"
        try:
            u = urlsplit(url)
            port = u.port or 5432
        except ValueError as exc:
            raise ConfigError(f"not a valid URL ({exc})", where=where) from exc
        if u.scheme.split("+")[0] not in ("postgresql", "postgres"):
            raise ConfigError("not a PostgreSQL URL (the scheme must be postgresql://)", where=where)
        name = u.path.lstrip("/")
        if not u.hostname or not u.username or not name or "/" in name:
            raise ConfigError("expected postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE", where=where)
        pw = unquote(u.password) if u.password is not None else None    # urlsplit leaves %-escapes in place
        return cls(unquote(u.username), pw, u.hostname, port, unquote(name))

    @property
    def redacted(self) -> str:
        user = quote(self.user, safe="")
        return f"postgresql://{user}{':***' if self.password else ''}@{self._hostport}/{quote(self.name, safe='')}"

    @property
    def _hostport(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def sqlalchemy(self, driver: str, query: str = "") -> str:
        """The SQLAlchemy URL without the password (libpq and asyncpg read it from :meth:`env`)."""
        return f"postgresql+{driver}://{quote(self.user, safe='')}@{self._hostport}/{quote(self.name, safe='')}{query}"

    def env(self) -> dict[str, str]:
        return {"PGPASSWORD": self.password} if self.password else {}

    def mlflow_uri(self) -> str:
        """MLflow's backend store: the same database, tables in the schema ``mlflow`` (its Alembic
        history apart from Prefect's)."""
        return self.sqlalchemy("psycopg", f"?options=-csearch_path%3D{MLFLOW_SCHEMA}")

    def check(self, timeout: float = 5) -> None:
        """Connect once and create MLflow's schema; a clear one-line error naming the URL when that fails."""
        import psycopg

        try:
            with psycopg.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                                 dbname=self.name, connect_timeout=max(1, int(timeout)), autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{MLFLOW_SCHEMA}"')
        except psycopg.Error as exc:
            first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
            if self.password:
                first = first.replace(self.password, "***")
            raise ConfigError(f"cannot use the database: {first}", where=f"--database {self.redacted}",
                              hint="start PostgreSQL, or check the user, password, host, port and database "
                                   "name; nothing was started") from exc


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and records); plain string work, so
    even a URL that does not parse is redacted.

    >>> redact_url("postgresql://ops:p%40ss/w@db:5432/x"), redact_url("postgresql://ops@db/x")
    ('postgresql://ops:***@db:5432/x', 'postgresql://ops@db/x')
    """
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostpath = rest.rpartition("@")
    if not (sep and at and ":" in userinfo):
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{hostpath}"


@dataclass
class Service:
    name: str
    pid: int
    url: str
    health: str
    log: str
    started: int | None = None     # the process's start time (procs.start_time): the pid alone may be reused


class Services:
    """``bind``: the address the Prefect server, MLflow and the host listen on and are reached at
    (127.0.0.1; a machine's own address when workers and agents on other machines use them)."""

    def __init__(self, s: Settings, bind: str = "127.0.0.1"):
        self.s = s
        self.bind = bind
        self.run_dir = s.home / "run"
        self.log_dir = s.home / "logs"
        self.record = s.home / "services.json"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._pending: list[tuple[Service, float, subprocess.Popen]] | None = None

    # -- bookkeeping -------------------------------------------------------------------------
    def _load(self) -> dict:
        return json.loads(self.record.read_text()) if self.record.exists() else {}

    def _save(self, data: dict) -> None:
        self.record.write_text(json.dumps(data, indent=1))

    def running(self) -> dict[str, Service]:
        out = {}
        for name, d in self._load().get("services", {}).items():
            if _ours(name, d):    # not a pid the system has given to another process since (a reboot, say)
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

    def _spawn(self, name: str, cmd: list[str], url: str, health: str, timeout: float,
               env_extra: dict | None = None, **extra) -> Service:
        cur = self.running().get(name)
        if cur:           # already running: it must still answer (a hung one is not reported healthy)
            try:
                self.wait_healthy(cur, min(timeout, 15.0))
            except TransientError as exc:
                raise TransientError(f"{name} runs (pid {cur.pid}) but does not answer {cur.health}", where=name,
                                     hint=f"see {cur.log}; `wasmops down` stops it, then `wasmops up`") from exc
            return cur
        log = self.log_dir / f"{name}.log"
        fh = open(log, "ab")
        env = {**self.env(), **(env_extra or {})}
        if name == "prefect":   # the UI must call this server's API, not 4200's when 4200 was taken
            env["PREFECT_SERVER_UI_API_URL"] = extra["prefect_api_url"]
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        svc = Service(name=name, pid=proc.pid, url=url, health=health, log=str(log), started=start_time(proc.pid))
        self._register(svc, **extra)
        if self._pending is not None:
            self._pending.append((svc, timeout, proc))
        else:
            self.wait_healthy(svc, timeout, proc)
        return svc

    @contextmanager
    def together(self):
        """Services started in the ``with`` body start at once and are waited on together at its end
        (the Prefect server, MLflow and the host do not need each other to start)."""
        self._pending = []
        try:
            yield self
            for svc, timeout, proc in self._pending:
                self.wait_healthy(svc, timeout, proc)
        finally:
            self._pending = None

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
    @property
    def _hostname(self) -> str:
        """How clients reach a service bound to ``bind`` (an IPv6 address in brackets)."""
        return f"[{self.bind}]" if ":" in self.bind else self.bind

    def check_ports(self, asked: dict[str, int | None]) -> None:
        """A ConfigError naming the option, before anything starts, for a port asked for by name
        (``{"prefect": 4300}``) that something else holds, or that differs from a running service's."""
        for name, port in asked.items():
            if port is None:
                continue
            flag, cur = f"--{name}-port", self.running().get(name)
            if cur is not None:
                if urlsplit(cur.url).port != port:
                    raise ConfigError(f"{name} is already running at {cur.url}", where=flag,
                                      hint="`wasmops down` first to move it to another port")
            elif free_port(port, self.bind) != port:
                raise ConfigError(f"port {port} on {self.bind} is in use", where=flag,
                                  hint=f"choose another port, or leave {flag} out to take {name}'s default "
                                       "or else a free one")

    def start_prefect(self, port: int | None = None, database: Database | None = None) -> Service:
        """The Prefect server; on ``database`` (PostgreSQL, asyncpg) instead of ``<home>/prefect``'s SQLite."""
        port = free_port(port or DEFAULT_PORTS["prefect"], self.bind)
        url = f"http://{self._hostname}:{port}"
        (self.s.home / "prefect").mkdir(parents=True, exist_ok=True)
        env = {"PREFECT_SERVER_DATABASE_CONNECTION_URL": database.sqlalchemy("asyncpg"), **database.env()} \
            if database else {}
        return self._spawn("prefect", [sys.executable, "-m", "prefect", "server", "start", "--host", self.bind,
                                       "--port", str(port)], url, f"{url}/api/health", 120, env_extra=env,
                           prefect_api_url=f"{url}/api", **_db_record("prefect", database))

    def start_host(self, port: int | None = None) -> Service:
        port = free_port(port or DEFAULT_PORTS["host"], self.bind)
        url = f"http://{self._hostname}:{port}"
        return self._spawn("host", [_wasmops(), "host", "--bind", self.bind, "--port", str(port)], url,
                           f"{url}/readyz", 60)

    def start_mlflow(self, port: int | None = None, database: Database | None = None) -> Service:
        """The MLflow server; its backend store on ``database`` (schema ``mlflow``, psycopg) instead of
        ``<home>/mlflow.db``. Artifacts stay in ``<home>/mlartifacts`` either way."""
        port = free_port(port or DEFAULT_PORTS["mlflow"], self.bind)
        url = f"http://{self._hostname}:{port}"
        store = database.mlflow_uri() if database else f"sqlite:///{self.s.home / 'mlflow.db'}"
        env_cmd = [sys.executable, "-m", "mlflow", "server", "--host", self.bind, "--port", str(port),
                   "--backend-store-uri", store, "--default-artifact-root",
                   str(self.s.home / "mlartifacts"), "--workers", "1"]
        os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
        return self._spawn("mlflow", env_cmd, url, f"{url}/health", 120, env_extra=database.env() if database else {},
                           mlflow_url=url,
                           **_db_record("mlflow", database))

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
            terminate_group(running[name].pid, timeout)
            stopped.append(name)
        data = self._load()
        for name in stopped:
            data.get("services", {}).pop(name, None)
            (self.run_dir / f"{name}.pid").unlink(missing_ok=True)
        if "prefect" in stopped:
            data.pop("prefect_api_url", None)
        self._save(data)
        return stopped


def _ours(name: str, d: dict) -> bool:
    """The recorded process still runs: same pid and start time; a record without a start time (older
    than it) also needs a command line that names the service (an operator's `down` killed an
    unrelated process whose pid a stale services.json named)."""
    if d.get("started") is not None:
        return same_process(d["pid"], d["started"])
    if not pid_alive(d["pid"]):
        return False
    try:
        with open(f"/proc/{d['pid']}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return True            # not ours to read (another user's): never taken for free
    return name in cmd or "wasmops" in cmd


def _db_record(name: str, database: Database | None) -> dict:
    """What services.json keeps about a service's store (the password never)."""
    return {f"{name}_database": database.redacted if database else "sqlite"}


def _wasmops() -> str:
    cand = Path(sys.executable).with_name("wasmops")
    return str(cand) if cand.exists() else "wasmops"
