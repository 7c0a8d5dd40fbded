"""Sign and verify modules as Sigstore bundles (v0.3).

    >>> import tempfile
    >>> from pathlib import Path
    >>> from wasmops.supply.signing import Keyring, generate_keypair, sign_bytes, verify_bytes
    >>> d = Path(tempfile.mkdtemp())
    >>> kid = generate_keypair(d / "signing.key", d / "signing.pub")
    >>> bundle = sign_bytes(b"module bytes", (d / "signing.key").read_bytes())
    >>> ring = Keyring()
    >>> ring.add_public_key((d / "signing.pub").read_bytes()) == kid
    True
    >>> verify_bytes(b"module bytes", bundle, ring).key_id == kid
    True

Two backends write the same bundle format:

* **offline** (default): an ECDSA P-256 key pair. The bundle carries ``messageSignature`` and
  ``verificationMaterial.publicKey.hint`` = base64(sha256(DER SubjectPublicKeyInfo)) with empty
  ``tlogEntries``, which is what ``cosign sign-blob --key`` writes. There is no transparency log:
  trust comes from the public keys committed to the GitOps repo's ``keys/`` directory.
* **keyless**: Fulcio certificate + Rekor entry via sigstore-python (see ``_signing_keyless``),
  used by ``backend="auto"`` only when an ambient OIDC credential exists (CI).

Verification dispatches on the verification material: ``publicKey`` goes to the :class:`Keyring`;
``certificate``/``x509CertificateChain`` goes to sigstore-python with the keyring's trusted
identities (``keys/identities.yaml``). Every refusal is a :class:`~wasmops.errors.SignatureError`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from wasmops.supply import _signing_keyless as keyless
from wasmops.fsutil import atomic_write
from wasmops.errors import ConfigError, NotFound, SignatureError, SpecError

__all__ = [
    "BUNDLE_MEDIA_TYPE",
    "Keyring",
    "Verified",
    "bundle_digest",
    "bundle_path_for",
    "generate_keypair",
    "key_id",
    "resolve_backend",
    "sign_bytes",
    "sign_file",
    "verify_bytes",
    "verify_file",
]

log = logging.getLogger(__name__)

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
BUNDLE_SUFFIX = ".sigstore.json"
Backend = Literal["auto", "offline", "keyless"]

# One distinct message prefix per refusal; tests and callers may match on them.
MISSING_BUNDLE = "no signature bundle"
GARBAGE = keyless.GARBAGE
DIGEST_MISMATCH = "digest mismatch"
BAD_SIGNATURE = keyless.BAD_SIGNATURE
UNTRUSTED_KEY = "untrusted key"
UNTRUSTED_IDENTITY = keyless.UNTRUSTED_IDENTITY


# ---------------------------------------------------------------- keys


def _spki_der(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _key_id_of(public_key) -> str:
    return base64.b64encode(hashlib.sha256(_spki_der(public_key)).digest()).decode("ascii")


def _load_public_key(pem: bytes | str, *, where: str | None = None) -> ec.EllipticCurvePublicKey:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise ConfigError(f"not a PEM public key: {exc}", where=where) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ConfigError(f"unsupported key type {type(key).__name__}: need ECDSA", where=where)
    return key


def _load_private_key(pem: bytes | str, *, where: str | None = None) -> ec.EllipticCurvePrivateKey:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:  # TypeError: the key is encrypted
        raise ConfigError(f"not an unencrypted PEM private key: {exc}", where=where) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"unsupported key type {type(key).__name__}: need ECDSA", where=where)
    return key


def key_id(public_key_pem: bytes | str) -> str:
    """The key id (bundle ``publicKey.hint``): base64(sha256(DER SubjectPublicKeyInfo))."""
    return _key_id_of(_load_public_key(public_key_pem))


def generate_keypair(private_path: Path, public_path: Path, *, overwrite: bool = False) -> str:
    """Make an ECDSA P-256 pair (PKCS8 private key, mode 0600; SPKI public key). Return the key id.

    Refuses to replace an existing private key unless ``overwrite`` is true.
    """
    private_path, public_path = Path(private_path), Path(public_path)
    if private_path.exists() and not overwrite:
        raise ConfigError(
            "a private key already exists here",
            where=str(private_path),
            hint="keep it, or pass overwrite=True to replace it",
        )
    key = ec.generate_private_key(ec.SECP256R1())
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    atomic_write(private_path, private_pem, mode=0o600)
    atomic_write(public_path, public_pem, mode=0o644)
    return _key_id_of(key.public_key())


@dataclass
class Keyring:
    """Trusted signers: ECDSA public keys by key id, and keyless ``(identity, issuer)`` pairs."""

    keys: dict[str, ec.EllipticCurvePublicKey] = field(default_factory=dict)
    identities: list[tuple[str, str]] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # key id -> file it came from

    @property
    def key_ids(self) -> list[str]:
        return sorted(self.keys)

    def add_public_key(self, pem: bytes | str, *, source: str | None = None) -> str:
        """Trust a PEM public key; return its key id."""
        key = _load_public_key(pem, where=source)
        kid = _key_id_of(key)
        self.keys[kid] = key
        if source:
            self.sources[kid] = source
        return kid

    def add_identity(self, identity: str, issuer: str) -> None:
        """Trust keyless signatures whose certificate names ``identity`` issued by ``issuer``."""
        self.identities.append((identity, issuer))

    @classmethod
    def from_dir(cls, path: str | Path) -> Keyring:
        """Load ``*.pub``/``*.pem`` public keys and an optional ``identities.yaml`` from ``path``."""
        path = Path(path)
        if not path.is_dir():
            raise ConfigError(
                "keyring directory does not exist",
                where=str(path),
                hint="run `wasmops init`, or commit public keys to the GitOps repo's keys/",
            )
        ring = cls()
        for f in sorted([*path.glob("*.pub"), *path.glob("*.pem")]):
            ring.add_public_key(f.read_bytes(), source=str(f))
        ident_file = path / "identities.yaml"
        if ident_file.is_file():
            try:
                doc = yaml.safe_load(ident_file.read_text()) or []
            except yaml.YAMLError as exc:
                raise SpecError(f"not YAML: {exc}", where=str(ident_file)) from exc
            if not isinstance(doc, list):
                raise SpecError("(root): expected a list of {identity, issuer}", where=str(ident_file))
            for i, item in enumerate(doc):
                ok = isinstance(item, dict) and all(
                    isinstance(item.get(k), str) and item[k] for k in ("identity", "issuer")
                )
                if not ok:
                    raise SpecError(f"[{i}]: expected {{identity: str, issuer: str}}", where=str(ident_file))
                ring.add_identity(item["identity"], item["issuer"])
        return ring


# ---------------------------------------------------------------- bundles


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def bundle_digest(bundle_bytes: bytes | str) -> str:
    """``sha256:<hex>`` of a bundle file's bytes (to reference it from an OCI manifest or log)."""
    raw = bundle_bytes.encode() if isinstance(bundle_bytes, str) else bundle_bytes
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def bundle_path_for(path: str | Path) -> Path:
    """Where the bundle for ``path`` lives: ``OUT.wasm`` → ``OUT.wasm.sigstore.json``."""
    path = Path(path)
    return path.with_name(path.name + BUNDLE_SUFFIX)


def sign_bytes(data: bytes, private_key_pem: bytes | str) -> dict:
    """Sign ``data`` with an ECDSA key; return a v0.3 bundle (cosign's offline key shape) as a dict."""
    key = _load_private_key(private_key_pem)
    digest = _sha256(data)
    signature = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    bundle = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": _key_id_of(key.public_key())}, "tlogEntries": []},
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": base64.b64encode(digest).decode()},
            "signature": base64.b64encode(signature).decode(),
        },
    }
    # Validate through sigstore-models and emit its serialization, so we never write a bundle that
    # other Sigstore clients would reject. (from_json, not from_dict: the models are strict and only
    # accept enum names such as "SHA2_256" in JSON mode.)
    return _parse_bundle(json.dumps(bundle), where="sign_bytes").to_dict()


def resolve_backend(backend: str = "auto") -> tuple[str, str | None]:
    """``(backend, token)``: ``auto`` becomes ``keyless`` only if an OIDC token is detected."""
    if backend not in ("auto", "offline", "keyless"):
        raise ConfigError(f"unknown signing backend {backend!r}: use auto, offline or keyless", where="key_backend")
    if backend == "offline":
        return "offline", None
    token = keyless.detect_token()
    if backend == "keyless" and not token:
        raise ConfigError(
            "keyless signing needs an OIDC identity token and none was detected",
            where="key_backend",
            hint="set SIGSTORE_ID_TOKEN, or use the offline backend",
        )
    return ("keyless", token) if token else ("offline", None)


def sign_file(
    path: str | Path, *, private_key_path: str | Path | None = None, backend: str = "auto", token: str | None = None
) -> Path:
    """Sign a file; write ``<path>.sigstore.json`` next to it and return that path."""
    path = Path(path)
    if not path.is_file():
        raise NotFound("no such file to sign", where=str(path))
    data = path.read_bytes()
    chosen, detected = ("keyless", token) if token and backend in ("auto", "keyless") else resolve_backend(backend)
    if chosen == "keyless":
        bundle = keyless.sign_keyless(data, detected, where=str(path))
    else:
        if private_key_path is None or not Path(private_key_path).is_file():
            raise ConfigError(
                "signing key not found", where=str(private_key_path), hint="run `wasmops init` to create a key pair"
            )
        bundle = sign_bytes(data, Path(private_key_path).read_bytes())
    log.info("signed %s with the %s backend", path, chosen)
    out = bundle_path_for(path)
    atomic_write(out, (json.dumps(bundle, indent=2) + "\n").encode(), mode=0o644)
    return out


# ---------------------------------------------------------------- verification


@dataclass(frozen=True)
class Verified:
    """A bundle that verified: how, by whom, and the sha256 (hex) of the signed bytes."""

    method: Literal["key", "keyless"]
    digest: str
    key_id: str | None = None
    identity: str | None = None
    issuer: str | None = None

    @property
    def signer(self) -> str:
        return self.key_id if self.method == "key" else f"{self.identity} ({self.issuer})"


def _parse_bundle(raw: str | bytes, *, where: str | None):
    from pydantic import ValidationError
    from sigstore_models.bundle.v1 import Bundle

    try:
        return Bundle.from_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ())) or "(root)"
        raise SignatureError(f"{GARBAGE}: {loc}: {first.get('msg')}", where=where) from exc


def verify_bytes(
    data: bytes,
    bundle: dict | bytes | str,
    keyring: Keyring,
    *,
    where: str | None = None,
    bundle_where: str | None = None,
) -> Verified:
    """Verify ``bundle`` over ``data`` against ``keyring``; raise SignatureError if it does not hold.

    ``where`` names the signed file and ``bundle_where`` the bundle file in error messages.
    """
    bundle_where = bundle_where or where
    if isinstance(bundle, dict):
        raw = json.dumps(bundle)
    elif isinstance(bundle, (bytes, str)):
        raw = bundle
    else:
        raise SignatureError(f"{GARBAGE}: expected JSON, got {type(bundle).__name__}", where=bundle_where)
    model = _parse_bundle(raw, where=bundle_where)
    msg = model.message_signature
    if msg is None:
        raise SignatureError(f"{GARBAGE}: a DSSE envelope, not a message signature over a file", where=bundle_where)
    digest = _sha256(data)
    _check_message_digest(msg, digest, where=where, bundle_where=bundle_where)
    material = model.verification_material
    if material.public_key is None:  # certificate or x509CertificateChain: keyless
        identity, issuer = keyless.verify_keyless(
            data, raw.decode() if isinstance(raw, bytes) else raw, keyring.identities, where=where
        )
        return Verified("keyless", digest.hex(), identity=identity, issuer=issuer)
    return _verify_with_key(msg.signature, digest, material.public_key.hint, keyring, where=where)


def _check_message_digest(msg, digest: bytes, *, where: str | None, bundle_where: str | None) -> None:
    """The digest the bundle signs, when it names one, must be SHA-256 and the file's."""
    if msg.message_digest is None:
        return
    if msg.message_digest.algorithm.value != "SHA2_256":
        raise SignatureError(f"{GARBAGE}: unsupported digest {msg.message_digest.algorithm.value}", where=bundle_where)
    if msg.message_digest.digest != digest:
        raise SignatureError(
            f"{DIGEST_MISMATCH}: the file is sha256:{digest.hex()}, "
            f"the bundle signs sha256:{msg.message_digest.digest.hex()}",
            where=where,
            hint="the file changed after signing, or the bundle belongs to another file",
        )


def _verify_with_key(signature: bytes, digest: bytes, hint: str | None, keyring: Keyring, *,
                     where: str | None) -> Verified:
    """The key the bundle hints at (it must be trusted), or, with no hint, any trusted key."""
    candidates = [hint] if hint else keyring.key_ids
    if hint and hint not in keyring.keys:
        raise SignatureError(
            f"{UNTRUSTED_KEY}: {hint} is not in the keyring ({len(keyring.keys)} trusted keys)",
            where=where,
            hint="commit the signer's public key to the GitOps repo's keys/",
        )
    for kid in candidates:
        try:
            keyring.keys[kid].verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        except InvalidSignature:
            continue
        return Verified("key", digest.hex(), key_id=kid)
    raise SignatureError(
        f"{BAD_SIGNATURE} with {'key ' + hint if hint else 'any trusted key'}",
        where=where,
        hint="the bundle's signature was altered or made by another key",
    )


def verify_file(path: str | Path, bundle_path: str | Path | None = None, *, keyring: Keyring) -> Verified:
    """Verify ``path`` against its bundle (default ``<path>.sigstore.json``)."""
    path = Path(path)
    bundle_path = Path(bundle_path) if bundle_path else bundle_path_for(path)
    if not path.is_file():
        raise NotFound("no such file to verify", where=str(path))
    if not bundle_path.is_file():
        raise SignatureError(
            f"{MISSING_BUNDLE}: {bundle_path.name} does not exist",
            where=str(bundle_path),
            hint=f"sign {path.name} first",
        )
    return verify_bytes(
        path.read_bytes(), bundle_path.read_bytes(), keyring, where=str(path), bundle_where=str(bundle_path)
    )
