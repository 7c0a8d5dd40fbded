"""A cache for the cost forecast the budget gate needs, so a release pays for it once an hour.

The forecast depends on the price sheet, the telemetry it was computed from (whole hours), the
hour it is made in and the champion cost model. The key holds all four; the model part is the
modification stamp of a local MLflow store (any promotion writes it), or nothing for a remote
tracking server, where the hourly key bounds how stale a forecast may get::

    >>> import tempfile, pathlib
    >>> c = ForecastCache(pathlib.Path(tempfile.mkdtemp()) / "fc.json")
    >>> k = forecast_key(pricing="p1", watermark="2026-11-27T10:00", hour="2026-11-27T11", model="m1")
    >>> c.get(k) is None
    True
    >>> c.put(k, {"core": "1.25"}, {"name": "wasmops-cost", "version": "3"})
    >>> c.get(k)[0]
    {'core': Decimal('1.25')}
"""

from __future__ import annotations

import hashlib
import json
import os
from decimal import Decimal
from pathlib import Path

from ..fsutil import atomic_write


def forecast_key(*, pricing: str, watermark: str, hour: str, model: str) -> str:
    raw = json.dumps({"pricing": pricing, "watermark": watermark, "hour": hour, "model": model}, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()


def model_stamp(tracking_uri: str) -> str:
    """What changes when a local MLflow store changes (a promotion moves the alias): the SQLite
    file's mtime and size; '' for a remote server (the hourly key bounds staleness there)."""
    if tracking_uri.startswith("sqlite:///"):
        p = Path(tracking_uri.removeprefix("sqlite:///"))
        try:
            st = os.stat(p)
        except FileNotFoundError:
            return "absent"
        return f"{st.st_mtime_ns}-{st.st_size}"
    return ""


class ForecastCache:
    """One JSON file holding the newest forecast and its key."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def get(self, key: str) -> tuple[dict[str, Decimal], dict] | None:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return None
        if data.get("key") != key:
            return None
        return {t: Decimal(v) for t, v in data["per_team"].items()}, data.get("info") or {}

    def put(self, key: str, per_team: dict, info: dict) -> None:
        body = {"key": key, "per_team": {t: str(v) for t, v in per_team.items()}, "info": info}
        atomic_write(self.path, json.dumps(body, indent=1).encode())
