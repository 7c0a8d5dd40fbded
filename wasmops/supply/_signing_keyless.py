"""Keyless Sigstore (Fulcio certificate + Rekor entry) through sigstore-python.

Kept apart from :mod:`wasmops.supply.signing` because it is the only part that needs the public Sigstore
services: signing asks Fulcio for a certificate and Rekor for a log entry, so it cannot run offline.
Verification of a keyless bundle runs offline against the cached production trusted root
(``Verifier.production(offline=True)``). sigstore-python is imported lazily: it takes about a second.

    >>> from wasmops.supply._signing_keyless import detect_token
    >>> detect_token() is None or isinstance(detect_token(), str)
    True
"""

from __future__ import annotations

import json
import logging
import os

from wasmops.errors import ConfigError, SignatureError, TransientError

log = logging.getLogger(__name__)

# Explicit tokens win over ambient detection: cosign reads SIGSTORE_ID_TOKEN, sigstore-python's CLI
# reads SIGSTORE_IDENTITY_TOKEN.
TOKEN_ENV_VARS = ("SIGSTORE_ID_TOKEN", "SIGSTORE_IDENTITY_TOKEN")

# Message prefixes shared with wasmops.supply.signing (tests match on them).
GARBAGE = "not a Sigstore bundle"
BAD_SIGNATURE = "signature does not verify"
UNTRUSTED_IDENTITY = "untrusted identity"


def detect_token() -> str | None:
    """An OIDC identity token from the environment, or None. Never raises.

    Looks at ``SIGSTORE_ID_TOKEN``/``SIGSTORE_IDENTITY_TOKEN`` first, then at the CI providers that
    ``sigstore.oidc.detect_credential`` knows (GitHub Actions, GitLab, GCP, Buildkite, CircleCI).
    A provider that is detected but fails (e.g. GitHub Actions without ``id-token: write``) counts
    as "no token", so ``auto`` falls back to the offline key.
    """
    for var in TOKEN_ENV_VARS:
        if os.environ.get(var):
            return os.environ[var]
    try:
        from sigstore.oidc import detect_credential

        return detect_credential() or None
    except Exception as exc:  # noqa: BLE001 - any failure here means "no ambient credential"
        log.info("no usable ambient OIDC credential (%s); using the offline key", exc)
        return None


def sign_keyless(data: bytes, token: str, *, where: str | None = None) -> dict:
    """Sign ``data`` with a Fulcio certificate for ``token`` and log it in Rekor (production)."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.errors import NetworkError
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityError, IdentityToken
    from sigstore.sign import SigningContext

    try:
        identity = IdentityToken(token)
    except IdentityError as exc:
        raise ConfigError(f"the OIDC identity token is not usable: {exc}", where=where) from exc
    try:
        ctx = SigningContext.from_trust_config(ClientTrustConfig.production())
        with ctx.signer(identity) as signer:
            bundle = signer.sign_artifact(data)
    except (OSError, NetworkError) as exc:  # requests' exceptions derive from OSError
        raise TransientError(f"keyless signing: Sigstore services unreachable: {exc}", where=where) from exc
    except SigstoreError as exc:
        raise SignatureError(f"keyless signing failed: {exc}", where=where) from exc
    return json.loads(bundle.to_json())


def make_verifier():
    """The verifier for keyless bundles. Tests may swap this for ``Verifier.staging(offline=True)``."""
    from sigstore.verify import Verifier

    return Verifier.production(offline=True)


def _san_values(cert) -> list[str]:
    from cryptography.x509 import (
        ExtensionNotFound,
        OtherName,
        RFC822Name,
        SubjectAlternativeName,
        UniformResourceIdentifier,
    )

    try:
        san = cert.extensions.get_extension_for_class(SubjectAlternativeName).value
    except ExtensionNotFound:
        return []
    values = list(san.get_values_for_type(RFC822Name)) + list(san.get_values_for_type(UniformResourceIdentifier))
    values += [o.value.decode(errors="replace") for o in san.get_values_for_type(OtherName)]
    return values


def verify_keyless(
    data: bytes, bundle_json: str, identities: list[tuple[str, str]], *, where: str | None = None
) -> tuple[str, str]:
    """Verify a certificate bundle; return the trusted ``(identity, issuer)`` that signed it."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.errors import VerificationError
    from sigstore.models import Bundle, InvalidBundle
    from sigstore.verify import policy

    try:
        bundle = Bundle.from_json(bundle_json)
    except (InvalidBundle, ValueError) as exc:
        raise SignatureError(f"{GARBAGE}: keyless bundle rejected: {exc}", where=where) from exc
    cert = bundle.signing_certificate
    signer = ", ".join(_san_values(cert)) or "(no subject alternative name)"
    if not identities:
        raise SignatureError(
            f"{UNTRUSTED_IDENTITY}: bundle is signed by {signer}, and the keyring trusts no keyless identities",
            where=where,
            hint="list trusted signers in keys/identities.yaml as '- {identity: ..., issuer: ...}'",
        )
    for identity, issuer in identities:
        pol = policy.Identity(identity=identity, issuer=issuer)
        try:
            pol.verify(cert)
        except VerificationError:
            continue
        try:
            make_verifier().verify_artifact(data, bundle, pol)
        except VerificationError as exc:
            raise SignatureError(f"{BAD_SIGNATURE}: keyless verification failed: {exc}", where=where) from exc
        except SigstoreError as exc:  # e.g. no cached trusted root
            raise ConfigError(f"cannot load the Sigstore trusted root: {exc}", where=where) from exc
        return identity, issuer
    raise SignatureError(f"{UNTRUSTED_IDENTITY}: {signer} is not in identities.yaml", where=where)
