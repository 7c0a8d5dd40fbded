"""A host stand-in for plan/apply tests: it keeps what was deployed and shows it as the real host's
live view does (``runtime._dump`` leaves out the optional fields that are empty)."""

from __future__ import annotations

OPTIONAL_EMPTY = ("success_exit_codes", "args")


class FakeHost:
    def __init__(self):
        self.live: dict[str, dict] = {}

    def modules(self):
        return [dict(v) for v in self.live.values()]

    def deploy(self, namespace, name, **body):
        view = {"namespace": namespace, "name": name, "health": "Healthy", **body}
        for f in OPTIONAL_EMPTY:
            if not view.get(f):
                view.pop(f, None)
        self.live[f"{namespace}/{name}"] = view
        return {"changed": True, "module": view}
