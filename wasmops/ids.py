"""Identifiers people type: a Prefect flow run id, checked before anything slow is imported.

    >>> flow_run_id("0f8c41e2-5d7b-4c36-9a55-3f1f8f0b6a1e").version
    4
    >>> flow_run_id("aca603ce")
    Traceback (most recent call last):
    ...
    wasmops.errors.UserError: aca603ce: not a flow run id (a UUID such as 0f8c41e2-5d7b-4c36-9a55-3f1f8f0b6a1e)
"""

from __future__ import annotations

from uuid import UUID

from .errors import UserError


def flow_run_id(text: str) -> UUID:
    """The flow run id as a UUID; a UserError naming it for anything else (a short id, a typo)."""
    try:
        return UUID(text)
    except ValueError:
        raise UserError("not a flow run id (a UUID such as 0f8c41e2-5d7b-4c36-9a55-3f1f8f0b6a1e)", where=text,
                        hint="`wasmops approvals` lists the runs that wait, with their ids") from None
