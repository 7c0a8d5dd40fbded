"""``wasmops host``: run the Wasm runtime host."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from . import app
from ._ui import err_console, settings


@app.command()
def host(
    port: int = typer.Option(8700, help="Port to listen on."),
    bind: str = typer.Option("127.0.0.1", help="Address to listen on."),
    state: Optional[Path] = typer.Option(None, help="State directory (default: <workspace>/host)."),
    token_file: Optional[Path] = typer.Option(None, help="Admin token file (default: <workspace>/host/token)."),
    keys: Optional[Path] = typer.Option(None, help="Trusted public keys directory."),
    policy: Optional[Path] = typer.Option(None, help="ModulePolicy YAML."),
    workers: int = typer.Option(0, help="Worker processes sharing the port (default: the number of cores; "
                                "1: one process, no supervisor)."),
    threads: int = typer.Option(8, help="Pool threads per worker for runs that outgrow the inline slice."),
    pool_nice: int = typer.Option(19, help="Nice value of pool runs while short runs are being served (long runs "
                                  "yield the core to short ones; 0: never lowered; without CAP_SYS_NICE or RLIMIT_NICE "
                                  "the host cannot raise them back, and does not lower them)."),
) -> None:
    """Serve deployed Wasm modules with an admin API and Prometheus /metrics."""
    from ..host.client import ensure_token, record_endpoint, token_file as default_token_file
    from ..host.runtime import Runtime
    from ..host.server import serve
    from ..host.workers import pool_slots
    from wasmops.supply.policy import policy_follower
    from wasmops.gitops.quarantine import quarantine_checker
    from wasmops.supply.signing import Keyring
    from ..workspace import policy_path

    s = settings()
    state_dir = state or s.home / "host"
    tpath = token_file or default_token_file(s)
    token = ensure_token(s, tpath)
    keys_dir = keys or s.trusted_keys_dir

    def open_runtime(slots: int | None = None) -> Runtime:
        return Runtime.open(state_dir, cache_dir=s.compile_cache, pool_slots=slots,
                            keyring=Keyring.from_dir(keys_dir),
                            policy=policy_follower(policy or policy_path(s)), quarantined=quarantine_checker(s),
                            timeout_s=s.registry_timeout_s)

    n = workers if workers > 0 else len(os.sched_getaffinity(0))
    url = f"http://{bind}:{port}"
    _port_free(bind, port)
    if state is None or Path(state).resolve() == (s.home / "host").resolve():
        record_endpoint(s, url, tpath)     # the workspace's own host: other commands find it here
    if n == 1:
        rt = open_runtime(pool_slots(threads))
        err_console().print(f"wasmops host on {url} ({len(rt.live)} modules restored, state {state_dir})")
        serve(rt, token, host=bind, port=port, workers=threads, pool_nice=pool_nice)
        return
    from ..host.supervisor import WorkerConfig, serve_workers

    err_console().print(f"wasmops host on {url} ({n} worker processes, state {state_dir})")
    cfg = WorkerConfig(bind, port, Path(state_dir), Path(s.compile_cache), Path(keys_dir), threads, pool_nice)
    serve_workers(n, cfg, token, open_runtime)


def _port_free(bind: str, port: int) -> None:
    """Refuse a port another process listens on before anything is recorded (found from outside: a host
    that failed to start had repointed the workspace, and the reconciler then deployed onto a fleet host
    outside its selector). A race with another starter still ends in the server's own bind error."""
    import socket

    from ..errors import UserError

    with socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((bind, port))
        except OSError as exc:
            raise UserError(f"cannot listen on {bind}:{port}: {exc.strerror}", where=f"{bind}:{port}",
                            hint="another process listens there (`wasmops status` names the workspace's host); "
                                 "choose another --port") from exc
