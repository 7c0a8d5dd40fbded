"""Through a real host: a request whose module sleeps in ``poll_oneoff`` past its deadline is answered at
the deadline (504), not after the sleep, twice over (the inline slice, then the pool).

Found from outside (docs/decisions.md, "Strangers' modules, fourth round"): a Rust module sleeping 3 s
under a 500 ms deadline was answered 504 after 6 s. The guest is written here: it sleeps 30 s (one
relative monotonic clock subscription), then writes "woke".
"""

from __future__ import annotations

import time

import pytest
from support.host import published_host

SLEEPER = """(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "woke")
  (func (export "_start")
    (i32.store8 (i32.const 1032) (i32.const 0))                 ;; tag: clock
    (i32.store (i32.const 1040) (i32.const 1))                  ;; monotonic
    (i64.store (i32.const 1048) (i64.const 30000000000))        ;; 30 s, relative
    (drop (call $poll (i32.const 1024) (i32.const 2048) (i32.const 1) (i32.const 4000)))
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 4))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with published_host(tmp_path_factory, "sleeper", SLEEPER, "--workers", "1") as served:
        yield served


def test_a_sleeping_module_is_answered_at_its_deadline(served):
    _hp, client, ref, digest = served
    client.deploy("dev", "sleeper", ref=ref, digest=digest, trust_level="standard",
                  limits={"fuel": 10**9, "memory": "1Mi", "timeout_ms": 300}, labels={"wasmops.dev/module": "sleeper"})
    for _ in range(2):
        t0 = time.monotonic()
        r = client.run("dev", "sleeper", b"")
        took = time.monotonic() - t0
        assert r.status_code == 504 and r.headers["x-wasmops-error"] == "timeout", (r.status_code, r.headers)
        assert took < 10, took                              # 300 ms and a slice, not 30 s (or 60)
        assert "x-wasmops-fuel-estimated" not in r.headers and int(r.headers["x-wasmops-fuel"]) < 10_000
