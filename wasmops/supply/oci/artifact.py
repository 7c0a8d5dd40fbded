"""Publish and pull Wasm modules as OCI artifacts, with Sigstore bundles attached as referrers.

Example::

    >>> import tempfile, wasmtime, pathlib
    >>> from wasmops.supply.oci.artifact import publish, pull, resolve
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "m.wasm").write_bytes(wasmtime.wat2wasm('(module (func (export "_start")))'))
    >>> res = publish(d / "m.wasm", f"oci-layout://{d}/oci:v1",
    ...               annotations={"org.opencontainers.image.created": "2026-01-01T00:00:00Z"})
    >>> resolve(f"oci-layout://{d}/oci:v1") == res.manifest_digest
    True
    >>> pull(res.ref, d / "out.wasm").size == res.size
    True

The artifact follows the CNCF TAG Runtime "Wasm OCI artifact" layout::

    manifest  application/vnd.oci.image.manifest.v1+json, annotations = the caller's
    config    application/vnd.wasm.config.v0+json
              {"created", "architecture": "wasm", "os": "wasip1"|"wasip2", "layerDigests": [...]}
    layer     application/wasm, annotated with org.opencontainers.image.title = file name

``created`` in the config is the caller's ``org.opencontainers.image.created`` annotation, else
``SOURCE_DATE_EPOCH``, else now: pass the annotation for reproducible digests. Components
(``os: wasip2``) are stored without the optional ``component`` section (wasmops does not parse WIT).

``publish`` is idempotent (same input, same digests; present blobs are skipped, referrers are not
listed twice), so a failed publish can simply be re-run. With a bundle, the manifest is stored by
digest, the bundle attached, and only then is the tag moved.

A Sigstore bundle is attached as an OCI 1.1 referrer: an image manifest with
``artifactType: application/vnd.dev.sigstore.bundle.v0.3+json``, the empty config
(``application/vnd.oci.empty.v1+json``, ``{}``), the bundle as its one layer and ``subject`` = the
Wasm manifest's descriptor. When the store has no referrers API (distribution 2.8.2 and image
layouts), the referrers tag schema is maintained: an image index at tag ``sha256-<hex>`` listing
the referrers, merged with what is there. Updating that tag is read-modify-write without ETags, so
two publishers signing the same digest at the same instant on a registry can lose one entry (the
layout store serialises it with a lock).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from wasmops.errors import ConfigError, IntegrityError, NotFound, SpecError
from wasmops.fsutil import atomic_file
from wasmops.supply.oci.layout import LayoutStore
from wasmops.supply.oci.refs import DEFAULT_TAG, Ref, parse_ref
from wasmops.supply.oci.store import (
    ANN_CREATED,
    ANN_TITLE,
    EMPTY,
    EMPTY_DATA,
    INDEX,
    MANIFEST,
    SIGSTORE_BUNDLE,
    WASM_CONFIG,
    WASM_LAYER,
    Store,
    bytes_descriptor,
    check_digest,
    copy_blob,
    descriptor,
    encode_json,
    file_digest,
    parse_json_doc,
    read_blob,
    referrers_tag,
)

# On a signature referrer: the repository the artifact was published to (``repository_name``).
# Admission accepts a digest only for that repository (docs/spec/host-api.md, "Digest bound to ref").
ANN_REPOSITORY = "dev.wasmops.repository"

_CORE_MODULE = b"\0asm\x01\x00\x00\x00"
_COMPONENT = b"\0asm\x0d\x00\x01\x00"


@dataclass(frozen=True)
class PublishResult:
    """What ``publish`` stored. ``ref`` is the reference pinned to the manifest digest."""

    manifest_digest: str
    layer_digest: str
    size: int
    ref: str
    bundle_manifest_digest: str | None = None


@dataclass(frozen=True)
class Signature:
    """A Sigstore bundle attached to an artifact, with its referrer manifest's annotations."""

    bundle: bytes
    annotations: dict


def repository_name(ref: str | Ref) -> str:
    """The repository a reference names: the registry repository path, or for an image layout
    (one repository, module names folded into tags, see ``wasmops.gitops.desired.artifact_ref``) the tag."""
    ref = parse_ref(ref)
    return ref.repo if ref.kind == "registry" else (ref.tag or DEFAULT_TAG)


@dataclass(frozen=True)
class PullResult:
    manifest_digest: str
    layer_digest: str
    path: Path
    size: int


def open_store(ref: str | Ref, *, timeout_s: float = 30.0) -> Store:
    """The store a reference names. A registry is probed first (``RegistryUnavailable`` if down)."""
    ref = parse_ref(ref)
    if ref.kind == "layout":
        return LayoutStore(ref)
    from wasmops.supply.oci.registry import RegistryStore  # oras-py and jsonschema take ~0.3 s to import: only when needed

    return RegistryStore(ref, timeout_s=timeout_s)


def _created(annotations: dict[str, str]) -> str:
    if annotations.get(ANN_CREATED):
        return annotations[ANN_CREATED]
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.fromtimestamp(int(epoch), UTC) if epoch and epoch.isdigit() else datetime.now(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_annotations(annotations, where: str) -> dict[str, str]:
    annotations = dict(annotations or {})
    bad = [k for k, v in annotations.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise SpecError(f"annotations must map strings to strings; bad keys: {bad}", where=where)
    return annotations


def build_wasm_artifact(wasm_path: Path, annotations: dict[str, str]) -> tuple[dict, bytes, bytes]:
    """(layer descriptor, config bytes, manifest bytes) for a Wasm file; nothing is stored."""
    layer_digest, size = file_digest(wasm_path)
    with open(wasm_path, "rb") as f:
        head = f.read(8)
    if head[:4] != _CORE_MODULE[:4]:
        raise SpecError("not a WebAssembly binary (no \\0asm magic)", where=str(wasm_path))
    layer = descriptor(WASM_LAYER, layer_digest, size, annotations={ANN_TITLE: wasm_path.name})
    config = {
        "created": _created(annotations),
        "architecture": "wasm",
        "os": "wasip2" if head == _COMPONENT else "wasip1",
        "layerDigests": [layer_digest],
    }
    config_bytes = encode_json(config)
    manifest: dict = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": bytes_descriptor(WASM_CONFIG, config_bytes),
        "layers": [layer],
    }
    if annotations:
        manifest["annotations"] = annotations
    return layer, config_bytes, encode_json(manifest)


def _bundle_annotations(bundle: dict, annotations: dict[str, str], repository: str | None) -> dict[str, str]:
    out: dict[str, str] = {ANN_REPOSITORY: repository} if repository else {}
    if "messageSignature" in bundle:
        out["dev.sigstore.bundle.content"] = "message-signature"
    elif "dsseEnvelope" in bundle:
        out["dev.sigstore.bundle.content"] = "dsse-envelope"
    if annotations.get(ANN_CREATED):
        out[ANN_CREATED] = annotations[ANN_CREATED]
    return out


def attach_bundle(store: Store, subject: dict, bundle_bytes: bytes, annotations: dict[str, str],
                  repository: str | None = None) -> str:
    """Push ``bundle_bytes`` as a referrer of ``subject`` (annotated with the ``repository`` it was
    published to); maintain the fallback tag. Returns its digest."""
    where = f"{store.ref.location}@{subject['digest']}"
    bundle = parse_json_doc(bundle_bytes, "signature bundle")
    bundle_desc = bytes_descriptor(SIGSTORE_BUNDLE, bundle_bytes)
    ref_annotations = _bundle_annotations(bundle, annotations, repository)
    manifest: dict = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "artifactType": SIGSTORE_BUNDLE,
        "config": bytes_descriptor(EMPTY, EMPTY_DATA),
        "layers": [bundle_desc],
        "subject": subject,
    }
    if ref_annotations:
        manifest["annotations"] = ref_annotations
    data = encode_json(manifest)
    store.put_blob(EMPTY_DATA, manifest["config"]["digest"], len(EMPTY_DATA))
    store.put_blob(bundle_bytes, bundle_desc["digest"], bundle_desc["size"])
    digest = store.put_manifest(data, MANIFEST)
    if store.referrers_api(subject["digest"]) is None:
        entry = descriptor(MANIFEST, digest, len(data), artifact_type=SIGSTORE_BUNDLE, annotations=ref_annotations)
        _add_to_referrers_index(store, subject["digest"], entry, where)
    return digest


def _referrers_index(store: Store, subject_digest: str, where: str) -> dict | None:
    """The index at the referrers fallback tag, or None when the tag does not exist."""
    tag = referrers_tag(subject_digest)
    try:
        data, _media_type, _digest = store.get_manifest(tag)
    except NotFound:
        return None
    index = parse_json_doc(data, f"{where} (tag {tag})")
    if index.get("mediaType") != INDEX or not isinstance(index.get("manifests"), list):
        raise IntegrityError(f"tag {tag} holds something other than a referrers image index", where=where)
    return index


def _add_to_referrers_index(store: Store, subject_digest: str, entry: dict, where: str) -> None:
    index = _referrers_index(store, subject_digest, where) or {"schemaVersion": 2, "mediaType": INDEX, "manifests": []}
    if any(m.get("digest") == entry["digest"] for m in index["manifests"] if isinstance(m, dict)):
        return
    index["manifests"].append(entry)
    store.put_manifest(encode_json(index), INDEX, tag=referrers_tag(subject_digest))


def publish(wasm_path, ref, *, bundle_path=None, annotations=None, timeout_s: float = 30.0) -> PublishResult:
    """Store a Wasm module (and optionally its Sigstore bundle) at ``ref``; return the digests."""
    ref = parse_ref(ref)
    if ref.digest:
        raise SpecError("publish needs a tag, not a digest-pinned reference", where=str(ref))
    wasm_path = Path(wasm_path)
    if not wasm_path.is_file():
        raise ConfigError("wasm file not found", where=str(wasm_path))
    bundle_bytes = None
    if bundle_path is not None:
        if not Path(bundle_path).is_file():
            raise ConfigError("signature bundle not found", where=str(bundle_path))
        bundle_bytes = Path(bundle_path).read_bytes()
        parse_json_doc(bundle_bytes, str(bundle_path))
    annotations = _check_annotations(annotations, str(ref))
    layer, config_bytes, manifest_bytes = build_wasm_artifact(wasm_path, annotations)
    manifest = json.loads(manifest_bytes)
    tag = ref.effective_tag
    store = open_store(ref, timeout_s=timeout_s)
    try:
        store.put_blob(wasm_path, layer["digest"], layer["size"])
        store.put_blob(config_bytes, manifest["config"]["digest"], len(config_bytes))
        bundle_digest = None
        if bundle_bytes is not None:
            # Signature first, tag last: whoever pulls the tag finds the signature already attached.
            digest = store.put_manifest(manifest_bytes, MANIFEST)
            subject = descriptor(MANIFEST, digest, len(manifest_bytes))
            bundle_digest = attach_bundle(store, subject, bundle_bytes, annotations, repository_name(ref))
        digest = store.put_manifest(manifest_bytes, MANIFEST, tag=tag)
    finally:
        store.close()
    return PublishResult(
        manifest_digest=digest,
        layer_digest=layer["digest"],
        size=layer["size"],
        ref=str(ref.with_tag(tag).with_digest(digest)),
        bundle_manifest_digest=bundle_digest,
    )


def _wasm_layer(manifest_bytes: bytes, media_type: str, where: str) -> dict:
    manifest = parse_json_doc(manifest_bytes, where)
    if manifest.get("mediaType", media_type) != MANIFEST or not isinstance(manifest.get("layers"), list):
        found = manifest.get("mediaType") or media_type
        raise SpecError(f"not a Wasm artifact: manifest media type is {found!r}", where=where)
    layers = [x for x in manifest["layers"] if isinstance(x, dict) and x.get("mediaType") == WASM_LAYER]
    if len(layers) != 1:
        raise SpecError(f"not a Wasm artifact: expected one {WASM_LAYER} layer, found {len(layers)}", where=where)
    return layers[0]


def pull(ref, out_path, *, timeout_s: float = 30.0) -> PullResult:
    """Fetch the Wasm layer of ``ref`` into ``out_path``, verified; atomic, nothing partial on failure."""
    ref = parse_ref(ref)
    out_path = Path(out_path)
    with open_store(ref, timeout_s=timeout_s) as store:
        data, media_type, digest = store.get_manifest(ref.reference)
        layer = _wasm_layer(data, media_type, str(ref))
        with atomic_file(out_path, suffix=".part") as out:
            size = copy_blob(store, layer, out, str(ref))
    return PullResult(manifest_digest=digest, layer_digest=layer["digest"], path=out_path, size=size)


def resolve(ref, *, timeout_s: float = 30.0) -> str:
    """The manifest digest a reference points at (verified when the reference pins one)."""
    ref = parse_ref(ref)
    with open_store(ref, timeout_s=timeout_s) as store:
        return store.get_manifest(ref.reference)[2]


def fetch_signature(ref, *, timeout_s: float = 30.0) -> bytes | None:
    """The newest Sigstore bundle attached to ``ref``'s manifest, verified; None if there is none."""
    sigs = fetch_signatures(ref, timeout_s=timeout_s)
    return sigs[-1].bundle if sigs else None


def fetch_signatures(ref, *, timeout_s: float = 30.0) -> list[Signature]:
    """Every Sigstore bundle attached to ``ref``'s manifest (oldest first), each verified by digest."""
    ref = parse_ref(ref)
    out: list[Signature] = []
    with open_store(ref, timeout_s=timeout_s) as store:
        _data, _mt, subject = store.get_manifest(ref.reference)
        where = f"{ref.location}@{subject}"
        descs = store.referrers_api(subject)
        if descs is None:
            index = _referrers_index(store, subject, where)
            descs = index["manifests"] if index else []
        for desc in descs:
            if isinstance(desc, dict) and desc.get("artifactType") == SIGSTORE_BUNDLE:
                sig = _read_signature(store, ref, desc, subject, where)
                if sig is not None:
                    out.append(sig)
    return out


def _read_signature(store: Store, ref: Ref, desc: dict, subject: str, where: str) -> Signature | None:
    mdata, _mt, mdigest = store.get_manifest(check_digest(desc.get("digest", ""), where))
    manifest = parse_json_doc(mdata, f"{ref.location}@{mdigest}")
    if (manifest.get("subject") or {}).get("digest") != subject:
        raise IntegrityError(f"referrer {mdigest} does not name {subject} as its subject", where=where)
    layers = [layer for layer in manifest.get("layers", [])
              if isinstance(layer, dict) and layer.get("mediaType") == SIGSTORE_BUNDLE]
    if not layers:
        return None
    ann = manifest.get("annotations") if isinstance(manifest.get("annotations"), dict) else {}
    return Signature(bundle=read_blob(store, layers[0], where), annotations=ann)
