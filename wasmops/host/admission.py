"""Admission: nothing runs on the host unless it passes every check, in this order.

1. refuse a digest that is quarantined in Git;
2. pull the artifact by digest from the ref's own repository and check the manifest and layer
   digests (``wasmops.supply.oci.pull``);
3. bind the digest to the ref: the artifact must be the one the ref's repository holds (see
   ``bound_signature``), so a signed artifact of module B cannot serve as module A;
4. verify its Sigstore bundle (an OCI referrer) against the trusted keyring;
5. run the capability policy for the deployment's trust level and memory limit.

Each failure raises a ``wasmops.errors`` error whose message is the reason the host returns, and
whose ``step`` names the check that refused (``STEPS``; the host's error body carries it as
``"step"``, and the reconciler records its conditions from it).
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..digests import sha256_bytes
from ..errors import IntegrityError, QuarantinedError, SignatureError, WasmopsError
from wasmops.supply.policy import ModulePolicy, check_module
from wasmops.supply.signing import Keyring, verify_bytes


#: The admission steps, in the order they run: a refusal at one means every earlier step passed.
STEPS = ("quarantine", "pull", "bind", "signature", "policy")


@contextmanager
def step(name: str):
    """Name the admission step on any wasmops error raised inside it (the first name sticks).

    >>> try:
    ...     with step("policy"):
    ...         raise IntegrityError("nope")
    ... except IntegrityError as exc:
    ...     exc.step
    'policy'
    """
    try:
        yield
    except WasmopsError as exc:
        if exc.step is None:
            exc.step = name
        raise


@dataclass
class Admitted:
    wasm: bytes
    wasm_digest: str
    manifest_digest: str
    signature: dict
    bundle: bytes | None = None


def pinned_ref(ref: str, digest: str) -> str:
    """``REF[:TAG]`` + digest → ``REF@digest`` (tag dropped: the digest is what counts)."""
    from wasmops.supply.oci.refs import parse_ref

    return str(parse_ref(ref).pinned(digest))


def bound_signature(ref: str, digest: str, *, timeout_s: float = 30.0) -> bytes | None:
    """The bundle to verify for ``digest`` under ``ref``, once the digest is shown to belong to ref's repository.

    Publish annotates each signature referrer with the repository it was published to
    (``dev.wasmops.repository``: the registry repository path, or the tag in an image layout). The
    newest bundle naming ref's repository is used; bundles that all name other repositories are a
    refusal. An older artifact without the annotation is accepted only if ref's repository itself
    holds the digest: on a registry it was pulled from that repository; in an image layout (one
    repository, names folded into tags) ref's tag must point at it.
    """
    from wasmops.supply.oci.artifact import ANN_REPOSITORY, fetch_signatures, repository_name, resolve

    pinned = pinned_ref(ref, digest)
    want = repository_name(ref)
    sigs = fetch_signatures(pinned, timeout_s=timeout_s)
    named = {s.annotations.get(ANN_REPOSITORY) for s in sigs} - {None}
    mine = [s for s in sigs if s.annotations.get(ANN_REPOSITORY) == want]
    if mine:
        return mine[-1].bundle
    if named:
        raise IntegrityError(f"digest {digest} was published to {', '.join(sorted(named))}, not {want}: "
                             "a digest is accepted only for the repository it was published to", where=ref)
    if ref.startswith("oci-layout://") and resolve(ref.split("@", 1)[0], timeout_s=timeout_s) != digest:
        raise IntegrityError(f"digest {digest} is not what {want} holds in this layout (and the artifact names "
                             "no repository): publish it again to that tag", where=ref)
    return sigs[-1].bundle if sigs else None


def admit(ref: str, digest: str, *, trust_level: str, memory_limit: int, keyring: Keyring,
          policy: ModulePolicy, quarantined: Callable[[str], bool] = lambda d: False,
          timeout_s: float = 30.0, run_timeout_ms: int | None = None, fuel: int | None = None,
          max_stdout: int | None = None) -> Admitted:
    from wasmops.supply.oci import pull

    with step("quarantine"):
        if quarantined(digest):
            raise QuarantinedError(f"digest {digest} is quarantined", where=ref,
                                   hint="remove it from quarantine in Git on purpose to allow it again")
    pinned = pinned_ref(ref, digest)
    with step("pull"), tempfile.TemporaryDirectory(prefix="wasmops-admit-") as td:
        res = pull(pinned, Path(td) / "module.wasm", timeout_s=timeout_s)
        if res.manifest_digest != digest:
            raise IntegrityError(f"manifest digest {res.manifest_digest} does not match {digest}", where=ref)
        wasm = Path(res.path).read_bytes()
    wasm_digest = sha256_bytes(wasm)
    with step("quarantine"):
        if quarantined(wasm_digest):
            raise QuarantinedError(f"wasm digest {wasm_digest} is quarantined", where=ref)
    with step("bind"):
        bundle = bound_signature(ref, digest, timeout_s=timeout_s)
    with step("signature"):
        if bundle is None:
            raise SignatureError("artifact is not signed: no Sigstore bundle is attached", where=pinned)
        verified = verify_bytes(wasm, bundle, keyring, where=pinned)
    with step("policy"):
        verdict = check_module(wasm, trust_level, policy, memory_limit=memory_limit, timeout_ms=run_timeout_ms,
                               fuel=fuel, where=pinned, max_stdout=max_stdout)
        verdict.raise_if_denied(where=pinned)
    sig = {"method": verified.method, "signer": getattr(verified, "key_id", None) or getattr(verified, "identity", None)}
    return Admitted(wasm=wasm, wasm_digest=wasm_digest, manifest_digest=digest, signature=sig, bundle=bundle)
