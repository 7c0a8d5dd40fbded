"""Tests for wasmops.supply.signing: offline key bundles, refusals, keyring, backend choice."""

from __future__ import annotations

import base64
import doctest
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from wasmops.supply import signing
from wasmops.errors import ConfigError, SignatureError, SpecError
from wasmops.supply.signing import (
    BUNDLE_MEDIA_TYPE,
    Keyring,
    bundle_digest,
    generate_keypair,
    key_id,
    resolve_backend,
    sign_bytes,
    sign_file,
    verify_bytes,
    verify_file,
)

WASM = b"\x00asm\x01\x00\x00\x00" + bytes(range(256)) * 4

# Every variable that makes sigstore's ambient detection (or our explicit token lookup) fire.
OIDC_ENV = (
    "SIGSTORE_ID_TOKEN",
    "SIGSTORE_IDENTITY_TOKEN",
    "GITHUB_ACTIONS",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "GOOGLE_SERVICE_ACCOUNT_NAME",
    "BUILDKITE",
    "GITLAB_CI",
    "CIRCLECI",
)


@pytest.fixture
def keys(tmp_path):
    """A trusted key pair in keys/ and a module file."""
    keys_dir = tmp_path / "keys"
    kid = generate_keypair(tmp_path / "signing.key", keys_dir / "signing.pub")
    module = tmp_path / "OUT.wasm"
    module.write_bytes(WASM)
    return {
        "kid": kid,
        "priv": tmp_path / "signing.key",
        "ring": Keyring.from_dir(keys_dir),
        "module": module,
        "dir": keys_dir,
    }


@pytest.fixture
def no_oidc(monkeypatch):
    for var in OIDC_ENV:
        monkeypatch.delenv(var, raising=False)


def signed(keys) -> Path:
    return sign_file(keys["module"], private_key_path=keys["priv"], backend="offline")


# ---------------------------------------------------------------- keys


def test_generate_keypair_files_and_key_id(tmp_path):
    kid = generate_keypair(tmp_path / "k.key", tmp_path / "k.pub")
    priv_pem = (tmp_path / "k.key").read_bytes()
    pub_pem = (tmp_path / "k.pub").read_bytes()
    assert priv_pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS8, unencrypted
    assert pub_pem.startswith(b"-----BEGIN PUBLIC KEY-----")  # SubjectPublicKeyInfo
    assert stat.S_IMODE(os.stat(tmp_path / "k.key").st_mode) == 0o600
    priv = serialization.load_pem_private_key(priv_pem, password=None)
    assert isinstance(priv, ec.EllipticCurvePrivateKey) and priv.curve.name == "secp256r1"
    # key id computed independently: base64(sha256(DER SPKI)), standard alphabet with padding
    der = serialization.load_pem_public_key(pub_pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    expected = base64.standard_b64encode(hashlib.sha256(der).digest()).decode()
    assert kid == expected == key_id(pub_pem)
    assert len(kid) == 44 and kid.endswith("=")


def test_generate_keypair_refuses_to_overwrite(tmp_path):
    generate_keypair(tmp_path / "k.key", tmp_path / "k.pub")
    before = (tmp_path / "k.key").read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        generate_keypair(tmp_path / "k.key", tmp_path / "k.pub")
    assert (tmp_path / "k.key").read_bytes() == before
    generate_keypair(tmp_path / "k.key", tmp_path / "k.pub", overwrite=True)
    assert (tmp_path / "k.key").read_bytes() != before


# ---------------------------------------------------------------- bundle shape


def test_bundle_shape_and_sigstore_models_validation(keys):
    bundle = sign_bytes(WASM, keys["priv"].read_bytes())
    assert bundle["mediaType"] == BUNDLE_MEDIA_TYPE == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert bundle["verificationMaterial"] == {"publicKey": {"hint": keys["kid"]}, "tlogEntries": []}
    md = bundle["messageSignature"]["messageDigest"]
    assert md == {"algorithm": "SHA2_256", "digest": base64.b64encode(hashlib.sha256(WASM).digest()).decode()}
    json.dumps(bundle)  # JSON-able

    from sigstore_models.bundle.v1 import Bundle

    model = Bundle.from_json(json.dumps(bundle))
    assert model.verification_material.public_key.hint == keys["kid"]
    assert model.message_signature.message_digest.digest == hashlib.sha256(WASM).digest()
    # The signature is DER ECDSA-SHA256 over the data, checkable with plain cryptography.
    pub = serialization.load_pem_public_key((keys["dir"] / "signing.pub").read_bytes())
    pub.verify(model.message_signature.signature, WASM, ec.ECDSA(hashes.SHA256()))


def test_round_trip_file(keys):
    out = signed(keys)
    assert out == keys["module"].with_name("OUT.wasm.sigstore.json")
    v = verify_file(keys["module"], keyring=keys["ring"])
    assert (v.method, v.key_id, v.digest) == ("key", keys["kid"], hashlib.sha256(WASM).hexdigest())
    assert v.signer == keys["kid"]


@pytest.mark.parametrize("form", ["dict", "bytes", "str"])
def test_round_trip_bytes_accepts_dict_bytes_str(keys, form):
    bundle = sign_bytes(WASM, keys["priv"].read_bytes())
    arg = {"dict": bundle, "bytes": json.dumps(bundle).encode(), "str": json.dumps(bundle)}[form]
    assert verify_bytes(WASM, arg, keys["ring"]).key_id == keys["kid"]


def test_bundle_digest(keys):
    out = signed(keys)
    raw = out.read_bytes()
    assert bundle_digest(raw) == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert bundle_digest(raw) != bundle_digest(raw + b" ")


def test_docstring_example_runs():
    result = doctest.testmod(signing)
    assert result.attempted >= 5 and result.failed == 0


# ---------------------------------------------------------------- refusals (distinct messages)


def test_tampered_bytes_refused(keys):
    signed(keys)
    keys["module"].write_bytes(WASM[:-1] + b"\x01")
    with pytest.raises(SignatureError, match="digest mismatch") as ei:
        verify_file(keys["module"], keyring=keys["ring"])
    assert ei.value.where == str(keys["module"])
    assert str(keys["module"]) in str(ei.value)


def test_tampered_signature_refused(keys):
    out = signed(keys)
    bundle = json.loads(out.read_text())
    sig = bytearray(base64.b64decode(bundle["messageSignature"]["signature"]))
    sig[-3] ^= 0x01  # flip one bit inside s
    bundle["messageSignature"]["signature"] = base64.b64encode(bytes(sig)).decode()
    out.write_text(json.dumps(bundle))
    with pytest.raises(SignatureError, match="signature does not verify") as ei:
        verify_file(keys["module"], keyring=keys["ring"])
    assert str(keys["module"]) in str(ei.value)


def test_tampered_bytes_with_matching_digest_still_refused(keys):
    """Rewriting messageDigest to match tampered bytes does not help: the signature fails."""
    out = signed(keys)
    evil = WASM + b"evil"
    keys["module"].write_bytes(evil)
    bundle = json.loads(out.read_text())
    bundle["messageSignature"]["messageDigest"]["digest"] = base64.b64encode(hashlib.sha256(evil).digest()).decode()
    out.write_text(json.dumps(bundle))
    with pytest.raises(SignatureError, match="signature does not verify"):
        verify_file(keys["module"], keyring=keys["ring"])


def test_untrusted_key_refused(keys, tmp_path):
    other = generate_keypair(tmp_path / "other.key", tmp_path / "elsewhere" / "other.pub")
    assert other not in keys["ring"].key_ids
    sign_file(keys["module"], private_key_path=tmp_path / "other.key", backend="offline")
    with pytest.raises(SignatureError, match="untrusted key") as ei:
        verify_file(keys["module"], keyring=keys["ring"])
    assert other in str(ei.value) and str(keys["module"]) in str(ei.value)


def test_untrusted_key_with_forged_hint_refused(keys, tmp_path):
    """Claiming a trusted key's hint does not help a signature made by another key."""
    generate_keypair(tmp_path / "other.key", tmp_path / "other.pub")
    bundle = sign_bytes(WASM, (tmp_path / "other.key").read_bytes())
    bundle["verificationMaterial"]["publicKey"]["hint"] = keys["kid"]
    with pytest.raises(SignatureError, match="signature does not verify"):
        verify_bytes(WASM, bundle, keys["ring"])


@pytest.mark.parametrize(
    "content",
    [
        os.urandom(64) + b"\xff",  # not JSON (nor UTF-8)
        b"[1, 2, 3]",  # JSON, wrong type
        b'{"mediaType": "application/json", "hello": "world"}',  # JSON object, not a bundle
        json.dumps(
            {
                "mediaType": BUNDLE_MEDIA_TYPE,
                "verificationMaterial": {"tlogEntries": []},
                "messageSignature": {"signature": "AAAA"},
            }
        ).encode(),  # no key or certificate
    ],
    ids=["random-bytes", "json-list", "wrong-shape", "no-verification-material"],
)
def test_garbage_bundle_refused(keys, content):
    out = signed(keys)
    out.write_bytes(content)
    with pytest.raises(SignatureError, match="not a Sigstore bundle") as ei:
        verify_file(keys["module"], keyring=keys["ring"])
    assert ei.value.where == str(out)


def test_missing_bundle_refused(keys):
    with pytest.raises(SignatureError, match="no signature bundle") as ei:
        verify_file(keys["module"], keyring=keys["ring"])
    assert ei.value.where == str(keys["module"].with_name("OUT.wasm.sigstore.json"))


def test_refusal_messages_are_distinct():
    prefixes = [
        signing.MISSING_BUNDLE,
        signing.GARBAGE,
        signing.DIGEST_MISMATCH,
        signing.BAD_SIGNATURE,
        signing.UNTRUSTED_KEY,
        signing.UNTRUSTED_IDENTITY,
    ]
    assert len(set(prefixes)) == len(prefixes)
    assert not any(a in b for a in prefixes for b in prefixes if a != b)


def _self_signed_keyless_bundle(data: bytes, *, with_log_entry: bool = True) -> dict:
    """A keyless-shaped bundle: self-made "Fulcio" cert for mallory@example.com and a fake log entry."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID, ObjectIdentifier

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    priv = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mallory")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(priv.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(minutes=10))
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name("mallory@example.com")]), critical=False)
        .add_extension(
            x509.UnrecognizedExtension(
                ObjectIdentifier("1.3.6.1.4.1.57264.1.1"),  # OIDC issuer
                b"https://issuer.example",
            ),
            critical=False,
        )
        .sign(priv, hashes.SHA256())
    )
    pem = priv.private_bytes(Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    bundle = sign_bytes(data, pem)
    entry = {
        "logIndex": "1",
        "logId": {"keyId": b64(b"k" * 32)},
        "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
        "integratedTime": str(int(now.timestamp())),
        "inclusionPromise": {"signedEntryTimestamp": b64(b"x")},
        "inclusionProof": {
            "logIndex": "1",
            "rootHash": b64(b"r" * 32),
            "treeSize": "2",
            "hashes": [b64(b"h" * 32)],
            "checkpoint": {"envelope": "fake\n"},
        },
        "canonicalizedBody": b64(b"{}"),
    }
    bundle["verificationMaterial"] = {
        "certificate": {"rawBytes": b64(cert.public_bytes(Encoding.DER))},
        "tlogEntries": [entry] if with_log_entry else [],
    }
    return bundle


def test_keyless_bundle_without_log_entry_is_garbage(keys):
    bundle = _self_signed_keyless_bundle(WASM, with_log_entry=False)
    with pytest.raises(SignatureError, match="not a Sigstore bundle"):
        verify_bytes(WASM, bundle, keys["ring"])


def test_keyless_bundle_refused_without_trusted_identities(keys):
    bundle = _self_signed_keyless_bundle(WASM)
    assert keys["ring"].identities == []
    with pytest.raises(SignatureError, match="untrusted identity: .*mallory@example.com.*no keyless identities"):
        verify_bytes(WASM, bundle, keys["ring"], where="m.wasm")


@pytest.mark.parametrize(
    "identity, issuer",
    [("eve@example.com", "https://issuer.example"), ("mallory@example.com", "https://other-issuer.example")],
)
def test_keyless_bundle_refused_for_other_identity_or_issuer(identity, issuer):
    ring = Keyring(identities=[(identity, issuer)])
    with pytest.raises(SignatureError, match="untrusted identity: mallory@example.com is not in identities.yaml"):
        verify_bytes(WASM, _self_signed_keyless_bundle(WASM), ring)


def test_keyless_bundle_with_trusted_identity_but_forged_chain_refused():
    """Identity matches, so it reaches sigstore-python's offline production verifier, which rejects it."""
    ring = Keyring(identities=[("mallory@example.com", "https://issuer.example")])
    with pytest.raises(SignatureError, match="signature does not verify: keyless verification failed") as ei:
        verify_bytes(WASM, _self_signed_keyless_bundle(WASM), ring, where="m.wasm")
    assert str(ei.value).startswith("m.wasm: ")
    from sigstore.errors import VerificationError

    assert isinstance(ei.value.__cause__, VerificationError)


def test_keyless_bundle_tampered_bytes_is_digest_mismatch():
    ring = Keyring(identities=[("mallory@example.com", "https://issuer.example")])
    with pytest.raises(SignatureError, match="digest mismatch"):
        verify_bytes(WASM + b"!", _self_signed_keyless_bundle(WASM), ring)


# ---------------------------------------------------------------- keyring


def test_keyring_from_dir_loads_pub_pem_and_identities(tmp_path):
    d = tmp_path / "keys"
    a = generate_keypair(tmp_path / "a.key", d / "a.pub")
    b = generate_keypair(tmp_path / "b.key", d / "b.pem")
    (d / "README.md").write_text("not a key")
    (d / "identities.yaml").write_text(
        "- {identity: https://github.com/acme/mods/.github/workflows/release.yml@refs/heads/main,"
        " issuer: https://token.actions.githubusercontent.com}\n"
    )
    ring = Keyring.from_dir(d)
    assert ring.key_ids == sorted([a, b])
    assert ring.identities == [
        (
            "https://github.com/acme/mods/.github/workflows/release.yml@refs/heads/main",
            "https://token.actions.githubusercontent.com",
        )
    ]
    assert ring.sources[a].endswith("a.pub")


def test_keyring_bad_inputs(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        Keyring.from_dir(tmp_path / "nope")
    (tmp_path / "bad.pub").write_text("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    with pytest.raises(ConfigError, match="not a PEM public key") as ei:
        Keyring.from_dir(tmp_path)
    assert ei.value.where.endswith("bad.pub")
    (tmp_path / "bad.pub").unlink()
    (tmp_path / "identities.yaml").write_text("- {identity: someone@example.com}\n")  # no issuer
    with pytest.raises(SpecError, match=r"\[0\]"):
        Keyring.from_dir(tmp_path)


def test_add_public_key_returns_key_id(keys):
    ring = Keyring()
    assert ring.key_ids == []
    assert ring.add_public_key((keys["dir"] / "signing.pub").read_text()) == keys["kid"]
    assert ring.key_ids == [keys["kid"]]


# ---------------------------------------------------------------- backend choice


def test_auto_backend_without_oidc_is_offline(keys, no_oidc):
    assert resolve_backend("auto") == ("offline", None)
    out = sign_file(keys["module"], private_key_path=keys["priv"], backend="auto")
    bundle = json.loads(out.read_text())
    assert bundle["verificationMaterial"]["publicKey"]["hint"] == keys["kid"]
    assert "certificate" not in bundle["verificationMaterial"]
    assert verify_file(keys["module"], keyring=keys["ring"]).method == "key"


def test_auto_backend_falls_back_when_detection_errors(keys, no_oidc, monkeypatch):
    # GitHub Actions without `id-token: write`: sigstore's detector raises; auto must still sign offline.
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert resolve_backend("auto") == ("offline", None)


def test_explicit_token_env_selects_keyless(no_oidc, monkeypatch):
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", "header.payload.sig")
    assert resolve_backend("auto") == ("keyless", "header.payload.sig")


def test_keyless_without_token_and_unknown_backend_are_config_errors(keys, no_oidc):
    with pytest.raises(ConfigError, match="OIDC identity token"):
        sign_file(keys["module"], backend="keyless")
    with pytest.raises(ConfigError, match="unknown signing backend"):
        resolve_backend("gpg")
    assert not keys["module"].with_name("OUT.wasm.sigstore.json").exists()


def test_offline_without_key_is_config_error(keys, tmp_path):
    with pytest.raises(ConfigError, match="signing key not found"):
        sign_file(keys["module"], private_key_path=tmp_path / "absent.key", backend="offline")
