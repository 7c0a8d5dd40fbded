"""Host restart benchmark: what the at-rest checks add to a start with N modules. Prints figures; asserts nothing.

A workspace gets N distinct signed modules, deployed through the host runtime (in process, no HTTP),
so the state dir holds N blobs, N bundles and N authenticated precompiled modules. Then
``Runtime.open`` is timed (median of R, warm page cache, no recompiles):

* with the at-rest checks (the default): each blob re-hashed against its admitted digest, each
  stored bundle re-verified (ECDSA P-256), each .cwasm HMAC-checked before it is deserialized;
* with ``verify_at_rest=False``: blobs read unchecked and bundles skipped (the .cwasm HMAC stays on,
  so its cost is measured on its own: HMAC-SHA256 over every .cwasm file).

Run: .venv/bin/python bench/host_restart.py [N] [R]
"""

from __future__ import annotations

import hashlib
import hmac
import statistics
import sys
import tempfile
import time
from pathlib import Path

import wasmtime

from wasmops.config import Settings
from wasmops.host.runtime import DeployRequest, Runtime
from wasmops.supply.oci import publish
from wasmops.supply.policy import load_policy
from wasmops.supply.signing import Keyring, sign_file
from wasmops.workspace import init_workspace

WAT = """(module (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1) (data (i32.const 16) "{{\\"n\\":{n:05d}}}")
  (func (export "_start") (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 12))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""


def populate(s: Settings, n: int) -> None:
    src = s.home / "src"
    src.mkdir(exist_ok=True)
    rt = open_runtime(s)
    for i in range(n):
        path = src / f"m{i}.wasm"
        path.write_bytes(wasmtime.wat2wasm(WAT.format(n=i)))
        bundle = sign_file(path, private_key_path=s.private_key, backend="offline")
        ref = f"oci-layout://{s.oci_layout}:m{i}"
        res = publish(path, ref, bundle_path=bundle)
        rt.deploy(DeployRequest(namespace="bench", name=f"m{i}", ref=ref, digest=res.manifest_digest))
    rt.close()


def open_runtime(s: Settings, **kw) -> Runtime:
    return Runtime.open(s.home / "host", cache_dir=s.compile_cache, keyring=Keyring.from_dir(s.trusted_keys_dir),
                        policy=load_policy(), **kw)


def time_open(s: Settings, rounds: int, **kw) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        rt = open_runtime(s, **kw)
        times.append(time.perf_counter() - t)
        assert rt.sandbox.compiles == 0 and not rt.stalled, "the bench must restore without recompiling"
        rt.close()
    return statistics.median(times)


def hmac_cost(s: Settings) -> float:
    key = (s.home / "host" / "cache.key").read_bytes()
    t = time.perf_counter()
    for f in s.compile_cache.glob("*.cwasm"):
        hmac.new(key, f.read_bytes(), hashlib.sha256).digest()
    return time.perf_counter() - t


def main(n: int = 100, rounds: int = 7) -> None:
    with tempfile.TemporaryDirectory(prefix="wasmops-bench-restart-") as d:
        s = Settings(home=Path(d))
        init_workspace(s)
        t = time.perf_counter()
        populate(s, n)
        print(f"{n} modules published, signed and deployed in {time.perf_counter() - t:.1f} s")
        time_open(s, 1)  # warm the page cache and imports
        checked = time_open(s, rounds)
        unchecked = time_open(s, rounds, verify_at_rest=False)
        mac = hmac_cost(s)
    print(f"host start with {n} modules (median of {rounds}):")
    print(f"  with at-rest checks     {checked * 1e3:8.1f} ms")
    print(f"  blob+bundle checks off  {unchecked * 1e3:8.1f} ms")
    print(f"  added by blob+bundle    {(checked - unchecked) * 1e3:8.1f} ms  (ratio {checked / unchecked:.2f}x)")
    print(f"  .cwasm HMAC (all files) {mac * 1e3:8.1f} ms  (inside both figures)")
    print(f"  per module: {(checked - unchecked + mac) / n * 1e3:.2f} ms for all three checks")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
