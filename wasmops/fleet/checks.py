"""What ``wasmops fleet status``/``fleet wait`` refuse at once, in one line, rather than wait out a timeout on::

    >>> agent_urls(["http://10.0.0.1:8711", "127.0.0.1:9341"], "--agents")
    Traceback (most recent call last):
    ...
    wasmops.errors.UserError: --agents: '127.0.0.1:9341' is not an agent URL: write http://HOST:PORT
    >>> full_digest("sha256:ab64", "--digest")
    Traceback (most recent call last):
    ...
    wasmops.errors.UserError: --digest: 'sha256:ab64' is not a full digest: write sha256: and 64 hex digits (fleet status --json prints them)
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from wasmops.errors import UserError
from wasmops.fleet.status import FleetStatus, matching_hosts
from wasmops.gitops.manifest import DIGEST, NAME

_DIGEST = re.compile(DIGEST)
_NAME = re.compile(NAME)


def agent_urls(urls: list[str], option: str) -> list[str]:
    """``urls`` when each is ``http(s)://HOST[:PORT]``; else a UserError naming ``option`` and the URL."""
    for u in urls:
        try:
            parts = urlsplit(u)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 0) >= 0
        except ValueError:   # a port that is not a number, or out of range
            ok = False
        if not ok:
            raise UserError(f"{option}: {u!r} is not an agent URL: write http://HOST:PORT")
    return urls


def full_digest(digest: str, option: str) -> str:
    if not _DIGEST.match(digest):
        raise UserError(f"{option}: {digest!r} is not a full digest: write sha256: and 64 hex digits "
                        "(fleet status --json prints them)")
    return digest


def module_key(key: str) -> str:
    ns, _, name = key.partition("/")
    if not (_NAME.match(ns) and _NAME.match(name)):
        raise UserError(f"KEY: {key!r} is not NS/NAME (lower-case letters, digits and '-')")
    return key


def reachable_target(fs: FleetStatus, key: str, labels: dict[str, str] | None, min_hosts: int | None,
                     where: str, min_src: str = "--min-hosts") -> None:
    """Refuse a wait that cannot end: ``key`` in no manifest (``labels`` None) and no agent reporting it
    while every agent answers, or ``min_hosts`` above the hosts that reconcile it (or may: unreachable)."""
    unreachable = [u for u, st in fs.agents.items() if "error" in st]
    hosts = matching_hosts(fs, key, labels)
    if labels is None and not hosts and not unreachable:
        raise UserError(f"KEY: no module {key} in {where} and none of the {len(fs.agents)} agents reports it")
    if min_hosts is not None and min_hosts > len(hosts) + len(unreachable):
        more = f" (+{len(unreachable)} unreachable)" if unreachable else ""
        raise UserError(f"{min_src} {min_hosts}: only {len(hosts)} host(s){more} reconcile {key}: "
                        f"{', '.join(hosts) or 'none'}")
