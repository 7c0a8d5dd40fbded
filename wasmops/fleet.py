"""The fleet as its agents report it: which host serves which digest of each module, who lags behind.

Read every agent's ``/status`` (no central state) and line them up::

    >>> from wasmops.fleet import fleet_status
    >>> fs = fleet_status(["http://10.0.0.1:8711", "http://10.0.0.2:8711"])   # doctest: +SKIP
    >>> fs.lagging                                                              # doctest: +SKIP
    [Lag(agent='http://10.0.0.2:8711', applied='9f3e…', newest='c41a…', since='2026-…')]

The newest commit is the most recently committed one any agent has fetched; an agent lags while it
has not applied that commit (it may be stalled, its host down, or it simply has not fetched yet).
``since`` is when the newest commit was made: how long the agent has been behind at most.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx


@dataclass(frozen=True, slots=True)
class Lag:
    agent: str
    host: str
    applied: str | None
    newest: str
    since: str | None
    why: str


@dataclass
class FleetStatus:
    agents: dict[str, dict] = field(default_factory=dict)         # url -> /status (or {"error": ...})
    newest: str | None = None
    newest_at: str | None = None

    @property
    def reachable(self) -> dict[str, dict]:
        return {u: s for u, s in self.agents.items() if "error" not in s}

    @property
    def lagging(self) -> list[Lag]:
        out = []
        for url, st in self.reachable.items():
            applied = st["revision"]["applied"]
            if self.newest and applied != self.newest:
                conds = st["conditions"]
                why = next((f"{t}: {c['reason']} {c['message']}".strip() for t, c in conds.items()
                            if (t == "Stalled" and c["status"] == "True") or (t == "Ready" and c["status"] != "True")),
                           "not fetched yet" if st["revision"]["fetched"] != self.newest else "applying")
                out.append(Lag(url, st["agent"]["host"], applied, self.newest, self.newest_at, why))
        return out

    def serving(self) -> dict[str, dict[str, str | None]]:
        """module -> {host: digest served} over every reachable agent."""
        out: dict[str, dict[str, str | None]] = {}
        for st in self.reachable.values():
            for key, m in st.get("modules", {}).items():
                out.setdefault(key, {})[st["agent"]["host"]] = m.get("serving")
        return dict(sorted(out.items()))

    def rows(self) -> list[dict]:
        """One row per (module, host): the digest Git wants, the one served, Ready."""
        rows = []
        for st in self.reachable.values():
            for key, m in sorted(st.get("modules", {}).items()):
                rows.append({"module": key, "host": st["agent"]["host"], "serving": _short(m.get("serving")),
                             "git": _short(m.get("git_digest")), "ready": m.get("ready"), "reason": m.get("reason")})
        return sorted(rows, key=lambda r: (r["module"], r["host"]))

    def agent_rows(self) -> list[dict]:
        lag = {x.agent: x for x in self.lagging}
        rows = []
        for url, st in self.agents.items():
            if "error" in st:
                rows.append({"agent": url, "host": "?", "selector": "?", "applied": "?", "state": "unreachable",
                             "note": st["error"]})
                continue
            rev, conds = st["revision"], st["conditions"]
            state = "stalled" if conds["Stalled"]["status"] == "True" else \
                "lagging" if url in lag else "ready" if conds["Ready"]["status"] == "True" else "not ready"
            note = lag[url].why if url in lag else conds["Ready"]["message"]
            rows.append({"agent": url, "host": st["agent"]["host"], "selector": st["agent"]["selector"],
                         "applied": (rev["applied"] or "-")[:12], "applied_at": rev["applied_at"] or "-",
                         "state": state, "note": note})
        return rows


def _short(d: str | None) -> str:
    return f"{d[:19]}…" if d else "-"


def _get(url: str, timeout: float) -> dict:
    try:
        r = httpx.get(url.rstrip("/") + "/status", timeout=timeout)
        r.raise_for_status()
        return r.json()
    except (httpx.HTTPError, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def fleet_status(agents: list[str], *, timeout: float = 5.0) -> FleetStatus:
    """Read every agent's /status concurrently; an unreachable agent is reported, not fatal."""
    with ThreadPoolExecutor(max_workers=min(16, max(1, len(agents)))) as ex:
        got = dict(zip(agents, ex.map(lambda u: _get(u, timeout), agents)))
    fs = FleetStatus(got)
    fetched = [(st["revision"]["committed_at"], st["revision"]["fetched"]) for st in fs.reachable.values()
               if st["revision"]["fetched"]]
    if fetched:
        fs.newest_at, fs.newest = max(fetched)
    return fs
