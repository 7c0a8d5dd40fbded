"""Before a fleet release commits: will any agent serve it?

``await_serving`` found out only after the commit that no agent's selector matches the manifest's
labels, so a misconfigured release left a release commit and its revert on main (found from outside).
The same question is asked before the commit here. It is only answered when every agent answers:
with an agent away, it might be the one that matches, and the release goes on (``await_fleet``
decides after the commit, as before).
"""

from __future__ import annotations

from .status import FleetStatus, _matches


def refuse_unmatched(fs: FleetStatus, key: str, labels: dict[str, str]) -> None:
    """``UserError`` naming ``key``, its labels and the agents' selectors when every agent answered and
    none would reconcile ``key``."""
    from wasmops.errors import UserError

    if not fs.agents or len(fs.reachable) < len(fs.agents):
        return
    if any(_matches(st, key, labels) for st in fs.reachable.values()):
        return
    sels = sorted({str(st["agent"].get("selector")) for st in fs.reachable.values()})
    raise UserError(f"no agent's selector matches {key} (labels {labels}); selectors: {', '.join(sels)}",
                    where=key, hint="check the manifest's labels and the agents' --selector; nothing was committed")
