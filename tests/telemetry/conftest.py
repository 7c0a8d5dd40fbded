"""Helpers for the telemetry tests: a well-behaved module with a chosen memory size, deployed on the host."""

from __future__ import annotations

import pytest

OK_WAT = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") {pages})
  (data (i32.const 16) "{{\\"ok\\":true}}")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 11))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""

LIMITS = {"fuel": 50_000_000, "memory": "4Mi", "timeout_ms": 2000, "max_stdout": "1Mi"}


@pytest.fixture(scope="module")
def deploy(host, workspace):
    """deploy(name, pages=1, wat=None, ns="tel", labels=..., **body) -> manifest digest."""

    def _deploy(name: str, pages: int = 1, wat: str | None = None, ns: str = "tel", **body) -> str:
        ref, digest = workspace.publish_wat(name, wat or OK_WAT.format(pages=pages))
        body.setdefault("labels", {"team": "obs", "project": "telemetry"})
        body.setdefault("limits", LIMITS)
        host.deploy(ns, name, ref=ref, digest=digest, **body)
        return digest

    return _deploy
