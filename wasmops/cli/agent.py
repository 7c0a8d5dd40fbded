"""``wasmops agent`` (beside a host: pull Git, reconcile that host with its slice) and ``wasmops fleet status``."""

from __future__ import annotations

import os
import re
import signal
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer

from . import app
from ._ui import console, err_console, settings, table

fleet_app = typer.Typer(help="The fleet of hosts as their agents report it.", no_args_is_help=True)
app.add_typer(fleet_app, name="fleet")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(text: str) -> float:
    """``30s``, ``500ms``, ``2m``, ``1h`` or a number of seconds."""
    m = _DURATION.match(text)
    if not m:
        raise typer.BadParameter(f"{text!r}: write 30s, 500ms, 2m or 1h")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


def prefect_emitter(host_url: str):
    """``emit(event, payload)`` sending Prefect events, or None when no Prefect API is configured.
    The adapter (flows/agent_events.py) is the one place the agent meets Prefect."""
    if not os.environ.get("PREFECT_API_URL"):
        return None
    from flows.agent_events import emitter

    return emitter(host_url)


def _log(msg: str) -> None:
    err_console().print(f"{datetime.now().strftime('%H:%M:%S')} {msg}", highlight=False, markup=False, soft_wrap=True)


@app.command()
def agent(
    selector: str = typer.Option(..., "--selector", "-l", help="Labels of the manifests this host serves: "
                                 "'env=edge,region=eu' (also !=, in (..), notin (..), key, !key)."),
    host_url: Optional[str] = typer.Option(None, "--host-url", help="The host to reconcile (default: the workspace's)."),
    host_token_file: Optional[Path] = typer.Option(None, help="The host's admin token file (default: "
                                                   "$WASMOPS_HOST_TOKEN, else the workspace's)."),
    interval: str = typer.Option("30s", help="Fetch and reconcile this often (30s, 500ms, 2m)."),
    remote: Optional[str] = typer.Option(None, help="GitOps remote to pull (default: $WASMOPS_GITOPS_REMOTE; "
                                         "none: read --clone as it is)."),
    branch: Optional[str] = typer.Option(None, help="Branch to follow (default: main)."),
    clone: Optional[Path] = typer.Option(None, help="The agent's clone (default: <workspace>/gitops, so the "
                                         "host beside it follows the same quarantine, policy and keys)."),
    registry: Optional[str] = typer.Option(None, help="Where moduleRefs resolve (default: the workspace's)."),
    mode: str = typer.Option("heal", help="heal: restore Git's state; report: record drift only."),
    port: int = typer.Option(8711, help="Port of /status (and /webhook unless --webhook-port)."),
    bind: str = typer.Option("127.0.0.1", help="Address to listen on."),
    webhook_port: Optional[int] = typer.Option(None, help="Port of POST /webhook (default: --port)."),
    webhook_secret: Optional[str] = typer.Option(None, envvar="WASMOPS_AGENT_WEBHOOK_SECRET",
                                                 help="Shared secret of the webhook (required to enable it)."),
) -> None:
    """Run beside a host: pull the GitOps remote on an interval (and on a webhook) and reconcile THIS host
    with the manifests whose labels match --selector. Serves its state on GET /status."""
    from wasmops.fleet.agent import Agent, AgentConfig
    from wasmops.fleet.agent_server import serve
    from ..errors import UserError
    from ..host.client import HostClient, endpoint
    from wasmops.gitops.selector import Selector

    s = settings()
    if mode not in ("heal", "report"):
        raise UserError(f"mode: {mode!r} is not heal or report")
    url, token = endpoint(s)
    url = host_url or url
    if host_token_file:
        token = host_token_file.read_text().strip()
    cfg = AgentConfig(host_url=url, selector=Selector.parse(selector), clone_dir=clone or s.gitops_dir,
                      registry=registry or s.registry_base, remote=remote or s.gitops_remote, branch=branch,
                      interval_s=parse_duration(interval), mode=mode)
    ag = Agent(cfg, HostClient(url, token), emit=prefect_emitter(url), log=_log)
    servers = _listen(ag, serve, bind, port, webhook_port, webhook_secret)
    _log(f"wasmops agent for {url}: selector {cfg.selector or '(everything)'}, {cfg.remote or cfg.clone_dir} "
         f"every {cfg.interval_s:g}s, mode {mode}; status on http://{bind}:{port}/status"
         + (f", webhook on :{webhook_port or port}" if webhook_secret else ", webhook off (no secret)"))
    signal.signal(signal.SIGTERM, lambda *_: (ag.stop.set(), ag.wake.set()))
    try:
        ag.run()
    except KeyboardInterrupt:
        pass
    finally:
        for srv in servers:
            srv.shutdown()


def _listen(ag, serve, bind: str, port: int, webhook_port: int | None, secret: str | None) -> list:
    """The agent's servers (/status, and /webhook on its own port if given); a busy port stops none half-open."""
    servers = []
    try:
        extra = [(webhook_port, "--webhook-port")] if webhook_port and webhook_port != port else []
        for p, opt in [(port, "--port"), *extra]:
            servers.append(serve(ag, bind=bind, port=p, secret=secret, option=opt))
    except Exception:
        for srv in servers:
            srv.shutdown()
        raise
    return servers


@fleet_app.command("status")
def fleet_status(agents: Optional[str] = typer.Option(None, "--agents", help="Agent URLs, comma-separated "
                                                      "(default: $WASMOPS_FLEET_AGENTS)."),
                 timeout: float = typer.Option(5.0, help="Seconds to wait for each agent."),
                 json_out: bool = typer.Option(False, "--json", help="JSON for scripts.")) -> None:
    """Which hosts serve which digest of each module, and which lag behind which commit (from each agent's /status)."""
    from ..digests import shown
    from wasmops.fleet.status import fleet_status as read

    fs = read(_agent_urls(agents), timeout=timeout)
    bad = [u for u, st in fs.agents.items() if "error" in st]
    if json_out:
        import dataclasses
        import json

        print(json.dumps({"agents": fs.agent_rows(), "modules": fs.rows(), "newest": fs.newest,
                          "lagging": [dataclasses.asdict(x) for x in fs.lagging]}, indent=1, default=str))
        raise typer.Exit(1 if bad or fs.lagging else 0)
    c = console()
    c.print(table("agents", fs.agent_rows()))
    if fs.newest:
        c.print(f"newest commit fetched: {fs.newest[:12]} (committed {fs.newest_at})")
    rows = [{**r, "serving": r["serving"] and shown("manifest", r["serving"]), "git": r["git"] and shown("manifest", r["git"]),
             "canary": r["canary"] and f"{shown('manifest', r['canary']['digest'])} at {r['canary']['weight']} %"}
            for r in fs.rows()]
    c.print(table("modules", rows) if rows else "no modules reported")
    for lag in fs.lagging:
        c.print(f"[yellow]lagging[/] {lag.host} ({lag.agent}): applied {(lag.applied or 'nothing')[:12]}, "
                f"newest {lag.newest[:12]} (committed {lag.since}): {lag.why}", highlight=False, soft_wrap=True)
    raise typer.Exit(1 if bad or fs.lagging else 0)


@fleet_app.command("wait")
def fleet_wait(key: str = typer.Argument(..., help="The module, NS/NAME."),
               digest: str = typer.Option(..., "--digest", help="The manifest digest to wait for (sha256:…)."),
               min_hosts: Optional[int] = typer.Option(None, "--min-hosts", min=1, help="Done when this many "
                                                       "matching hosts serve it (default: the manifest's "
                                                       "wasmops.dev/fleet-min-hosts, else every matching host)."),
               timeout: Optional[float] = typer.Option(None, help="Seconds (default: $WASMOPS_FLEET_TIMEOUT_S, 300)."),
               agents: Optional[str] = typer.Option(None, "--agents", help="Agent URLs, comma-separated "
                                                    "(default: $WASMOPS_FLEET_AGENTS)."),
               json_out: bool = typer.Option(False, "--json", help="JSON for scripts.")) -> None:
    """Wait until the hosts whose agents reconcile KEY serve DIGEST. Exit 0 when they do, 1 (lagging
    hosts listed) at the timeout. With a Prefect API, the agents' events wake the wait (else it polls). Hosts match by their agent's selector against the manifest's labels
    in the workspace's Git when it has KEY, else by the module being in their agent's status."""
    from ..digests import shown
    from wasmops.fleet.checks import full_digest, module_key, reachable_target
    from wasmops.fleet.status import MIN_HOSTS_ANNOTATION, await_serving, fleet_status as read, min_hosts_of

    s = settings()
    key, digest, urls = module_key(key), full_digest(digest, "--digest"), _agent_urls(agents)
    labels, where, min_src = None, None, "--min-hosts"
    manifest = _manifest_in_git(s, key)
    if manifest is not None:
        m, where = manifest
        min_src = min_src if min_hosts else f"{where}: annotation {MIN_HOSTS_ANNOTATION}"
        labels, min_hosts = m.metadata.labels, min_hosts or min_hosts_of(m, where=where)
    reachable_target(read(urls, timeout=min(5.0, s.fleet_timeout_s if timeout is None else timeout)),
                     key, labels, min_hosts, where=f"the GitOps repo ({s.gitops_dir})", min_src=min_src)
    from tasks.fleet_events import FALLBACK_POLL_S, AgentEvents

    with AgentEvents(labels, key) as wake:    # the agents' Prefect events wake the wait; /status decides
        r = await_serving(urls, key, digest, labels=labels, min_hosts=min_hosts,
                          timeout_s=s.fleet_timeout_s if timeout is None else timeout, poll_s=FALLBACK_POLL_S,
                          wake=wake)
    if json_out:
        import dataclasses
        import json

        print(json.dumps(dataclasses.asdict(r), indent=1))
        raise typer.Exit(0 if r.done else 1)
    c = console()
    state = "[green]served[/]" if r.done else "[red]not served[/]"
    c.print(f"{state} {key} {shown('manifest', digest)} on {len(r.served)} host(s) after {r.waited_s:.1f}s"
            + (f" (min {r.needed})" if r.needed else ""), highlight=False)
    for h in r.served:
        c.print(f"  serving {h}", highlight=False)
    for x in r.lagging:
        c.print(f"[yellow]lagging[/] {x.host} ({x.agent}): {x.why}", highlight=False, soft_wrap=True)
    for url, err in r.unreachable:
        c.print(f"[red]unreachable[/] agent {url}: {err}", highlight=False, soft_wrap=True)
    raise typer.Exit(0 if r.done else 1)


def _agent_urls(agents: str | None) -> list[str]:
    """--agents, else WASMOPS_FLEET_AGENTS (Settings.fleet_agents), each an http(s) URL; none is an error."""
    from ..errors import UserError
    from wasmops.fleet.checks import agent_urls

    if agents:
        return agent_urls([a.strip() for a in agents.split(",") if a.strip()], "--agents")
    urls = agent_urls(list(settings().fleet_agents), "WASMOPS_FLEET_AGENTS")
    if not urls:
        raise UserError("no agents: pass --agents URL,... or set WASMOPS_FLEET_AGENTS")
    return urls


def _manifest_in_git(s, key: str):
    """(manifest, file) of KEY in the workspace's GitOps repo, or None when there is no repo or no such module."""
    if not (s.gitops_dir / ".git").exists():
        return None
    from wasmops.gitops.repo import GitOpsRepo

    desired = GitOpsRepo.from_settings(s).desired()
    m = desired.deployments.get(key)
    return (m, str(s.gitops_dir / desired.files.get(key, key))) if m is not None else None
