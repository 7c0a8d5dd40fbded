"""Admission: nothing runs on the host unless it passes every check, in this order.

1. pull the artifact by digest and check the manifest and layer digests (``wasmops.oci.pull``);
2. refuse a digest that is quarantined in Git;
3. fetch its Sigstore bundle (an OCI referrer) and verify it against the trusted keyring;
4. run the capability policy for the deployment's trust level and memory limit.

Each failure raises a ``wasmops.errors`` error whose message is the reason the host returns.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..digests import sha256_bytes
from ..errors import IntegrityError, QuarantinedError, SignatureError
from ..policy import ModulePolicy, check_module
from ..signing import Keyring, verify_bytes


@dataclass
class Admitted:
    wasm: bytes
    wasm_digest: str
    manifest_digest: str
    signature: dict


def pinned_ref(ref: str, digest: str) -> str:
    """``REF[:TAG]`` + digest → ``REF@digest`` (tag dropped: the digest is what counts)."""
    base = ref.split("@", 1)[0]
    scheme, rest = base.split("://", 1)
    tail = rest.rsplit("/", 1)[-1]
    if ":" in tail:
        base = base[: base.rfind(":")]
    return f"{scheme}://{base.split('://', 1)[1]}@{digest}"


def admit(ref: str, digest: str, *, trust_level: str, memory_limit: int, keyring: Keyring,
          policy: ModulePolicy, quarantined: Callable[[str], bool] = lambda d: False,
          timeout_s: float = 30.0) -> Admitted:
    from ..oci import fetch_signature, pull

    if quarantined(digest):
        raise QuarantinedError(f"digest {digest} is quarantined", where=ref,
                               hint="remove it from quarantine in Git on purpose to allow it again")
    pinned = pinned_ref(ref, digest)
    with tempfile.TemporaryDirectory(prefix="wasmops-admit-") as td:
        res = pull(pinned, Path(td) / "module.wasm", timeout_s=timeout_s)
        if res.manifest_digest != digest:
            raise IntegrityError(f"manifest digest {res.manifest_digest} does not match {digest}", where=ref)
        wasm = Path(res.path).read_bytes()
    wasm_digest = sha256_bytes(wasm)
    if quarantined(wasm_digest):
        raise QuarantinedError(f"wasm digest {wasm_digest} is quarantined", where=ref)
    bundle = fetch_signature(pinned, timeout_s=timeout_s)
    if bundle is None:
        raise SignatureError("artifact is not signed: no Sigstore bundle is attached", where=pinned)
    verified = verify_bytes(wasm, bundle, keyring, where=pinned)
    verdict = check_module(wasm, trust_level, policy, memory_limit=memory_limit)
    verdict.raise_if_denied(where=pinned)
    sig = {"method": verified.method, "signer": getattr(verified, "key_id", None) or getattr(verified, "identity", None)}
    return Admitted(wasm=wasm, wasm_digest=wasm_digest, manifest_digest=digest, signature=sig)
