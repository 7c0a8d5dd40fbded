"""The agent's Prefect adapter: its state changes as Prefect events (the core takes a plain callback)."""

from __future__ import annotations

from prefect.events import emit_event


def emitter(host_url: str):
    """``emit(event, payload)`` for the agent beside ``host_url``."""
    resource = {"prefect.resource.id": f"wasmops.agent.{host_url}", "prefect.resource.name": f"agent {host_url}"}

    def emit(event: str, payload: dict) -> None:
        emit_event(event=event, resource=resource, payload=payload)

    return emit
