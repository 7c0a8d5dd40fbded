"""A throwaway PostgreSQL cluster for tests: ``initdb`` + ``pg_ctl`` from Debian's ``postgresql``
(``/usr/lib/postgresql/*/bin``), TCP on 127.0.0.1 and a unix socket in its own temporary directory.

PostgreSQL refuses to run as root, so as root the cluster runs as the ``postgres`` user (or
``nobody``) through ``runuser``. ``pg_ctl start -w`` returns once the server accepts connections.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from wasmops.services import free_port


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    return Path(found[-1]).parent if found else None


class PostgresCluster:
    """``with PostgresCluster() as pg: pg.url`` is ``postgresql://wasmops:PW@127.0.0.1:PORT/wasmops``.

    On a machine of the netns fleet: ``PostgresCluster(listen=m.ip, prefix=["ip", "netns", "exec", m.ns],
    allow="10.x.y.0/24")`` runs the server inside that namespace, on its address, and lets the subnet in
    (scram-sha-256)."""

    user = "wasmops"
    password = "pg-test-pw"
    dbname = "wasmops"

    def __init__(self, listen: str = "127.0.0.1", prefix: list[str] | None = None, allow: str | None = None):
        self.listen, self.prefix, self.allow = listen, list(prefix or []), allow
        self.bin = pg_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (Debian package `postgresql`; `make deps-system`)")
        self.root = Path(tempfile.mkdtemp(prefix="wasmops-pg-"))
        self.data, self.sock = self.root / "data", self.root / "sock"
        self.port = free_port()            # on this namespace's loopback: a fresh namespace has nothing on it
        self.runas = None
        if os.geteuid() == 0:
            self.runas = next(u for u in ("postgres", "nobody") if _user_exists(u))
            pw = pwd.getpwnam(self.runas)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.listen}:{self.port}/{self.dbname}"

    def _run(self, *cmd: str, timeout: float = 120) -> str:
        full = [str(self.bin / cmd[0]), *cmd[1:]]
        if self.runas:
            full = ["runuser", "-u", self.runas, "--", *full]
        p = subprocess.run([*self.prefix, *full], capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:2])} failed ({p.returncode}): {p.stdout[-2000:]}{p.stderr[-2000:]}")
        return p.stdout

    def start(self) -> "PostgresCluster":
        first = not self.data.exists()
        if first:
            pwfile = self.root / "pw"
            pwfile.write_text(self.password + "\n")
            self.sock.mkdir()
            self._chown(pwfile, self.sock)
            self._run("initdb", "-D", str(self.data), "-U", self.user, "--pwfile", str(pwfile), "-A", "scram-sha-256",
                      "--no-sync", "-E", "UTF8", "--locale", "C")
            if self.allow:
                with open(self.data / "pg_hba.conf", "a") as hba:
                    hba.write(f"host all all {self.allow} scram-sha-256\n")
        opts = (f"-c listen_addresses={self.listen} -c port={self.port} -c unix_socket_directories={self.sock} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", opts, "-w", "-t", "60",
                  "start")
        if first:
            subprocess.run([*self.prefix, str(self.bin / "createdb"), "-h", self.listen, "-p", str(self.port), "-U", self.user,
                            self.dbname], check=True, env={**os.environ, "PGPASSWORD": self.password},
                           capture_output=True, timeout=60)
        return self

    def _chown(self, *paths: Path) -> None:
        if self.runas:
            pw = pwd.getpwnam(self.runas)
            for p in paths:
                os.chown(p, pw.pw_uid, pw.pw_gid)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PostgresCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
