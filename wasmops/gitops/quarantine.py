"""The quarantine list: digests that must never be deployed again until a person removes them.

It lives in Git (``quarantine.yaml`` in the desired-state repo) so it survives every reconcile::

    entries:
      - digest: sha256:...
        kind: manifest          # or wasm: which digest it is (a rollback quarantines both); optional
        module: dev/greet-c
        reason: verify failed after release
        at: 2026-11-23T21:00:00+00:00
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~7x faster on 10k manifests

from wasmops.config import Settings
from wasmops.errors import SpecError

FILE = "quarantine.yaml"


def load(path: Path) -> list[dict]:
    if not path.exists():
        return []
    try:
        data = yaml.load(path.read_text(), Loader=_Loader) or {}
    except yaml.YAMLError as exc:
        raise SpecError(f"not valid YAML: {exc}", where=str(path)) from exc
    entries = data.get("entries", []) if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "digest" in e for e in entries):
        raise SpecError("entries: expected a list of {digest, module, reason}", where=str(path))
    return entries


KINDS = ("wasm", "manifest")


def add(path: Path, digest: str, *, module: str, reason: str, kind: str | None = None) -> bool:
    """Add ``digest`` (``kind``: which digest it is, ``wasm`` or ``manifest``, recorded when known);
    returns False if it was already there."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"quarantine kind {kind!r}: expected one of {', '.join(KINDS)}")
    entries = load(path)
    if any(e["digest"] == digest for e in entries):
        return False
    entries.append({"digest": digest, **({"kind": kind} if kind else {}), "module": module, "reason": reason,
                    "at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    path.write_text(yaml.safe_dump({"entries": entries}, sort_keys=False))
    return True


def remove(path: Path, digest: str) -> bool:
    entries = load(path)
    kept = [e for e in entries if e["digest"] != digest]
    if len(kept) == len(entries):
        return False
    path.write_text(yaml.safe_dump({"entries": kept}, sort_keys=False))
    return True


def repo_file(s: Settings) -> Path:
    return s.paths.quarantine


def quarantine_checker(s: Settings) -> Callable[[str], bool]:
    """A fast membership test that re-reads the file only when it changed."""
    path = repo_file(s)
    cache: dict = {"mtime": None, "digests": frozenset()}

    def check(digest: str) -> bool:
        try:
            mtime = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            return False
        if mtime != cache["mtime"]:
            cache["digests"] = frozenset(e["digest"] for e in load(path))
            cache["mtime"] = mtime
        return digest in cache["digests"]

    return check
