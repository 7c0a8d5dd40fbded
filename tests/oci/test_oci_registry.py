"""The registry store against a real CNCF distribution 2.8.2 (session fixture ``registry``)."""

from __future__ import annotations

import hashlib
import time

import httpx
import pytest
from support.registry import free_port, htpasswd_line, start_registry

from wasmops.supply import oci
from wasmops.errors import ConfigError, IntegrityError, NotFound, RegistryUnavailable
from wasmops.supply.oci.store import INDEX, SIGSTORE_BUNDLE, referrers_tag

pytestmark = pytest.mark.registry


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def get_manifest(registry: str, repo_path: str, reference: str) -> httpx.Response:
    accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"
    return httpx.get(f"http://{registry}/v2/{repo_path}/manifests/{reference}", headers={"Accept": accept})


class TestRoundTrip:
    def test_publish_then_pull_keeps_the_bytes(self, repo, wasm_file, annotations, tmp_path):
        res = oci.publish(wasm_file, f"{repo}:v1", annotations=annotations, timeout_s=5)
        assert res.layer_digest == sha256(wasm_file.read_bytes())
        assert res.ref == f"{repo}:v1@{res.manifest_digest}"
        out = tmp_path / "pulled.wasm"
        got = oci.pull(f"{repo}:v1", out, timeout_s=5)
        assert out.read_bytes() == wasm_file.read_bytes()
        assert (got.manifest_digest, got.layer_digest, got.size) == (res.manifest_digest, res.layer_digest, res.size)
        assert oci.resolve(f"{repo}:v1") == res.manifest_digest
        assert oci.pull(res.ref, tmp_path / "pinned.wasm").manifest_digest == res.manifest_digest
        with oci.open_store(res.ref) as store:
            assert isinstance(store, oci.Store)
            assert "v1" in store.tags()

    def test_registry_and_layout_give_the_same_digest(self, repo, big_wasm_file, annotations, tmp_path):
        remote = oci.publish(big_wasm_file, f"{repo}:v1", annotations=annotations)
        local = oci.publish(big_wasm_file, f"oci-layout://{tmp_path}/oci:v1", annotations=annotations)
        assert remote.manifest_digest == local.manifest_digest
        assert remote.size > 100_000
        assert oci.pull(f"{repo}:v1", tmp_path / "big.out").size == remote.size

    def test_missing_tag_is_not_found_and_writes_nothing(self, repo, wasm_file, tmp_path):
        out = tmp_path / "out.wasm"
        with pytest.raises(NotFound):
            oci.pull(f"{repo}:absent", out)  # repository does not exist yet
        oci.publish(wasm_file, f"{repo}:v1")
        with pytest.raises(NotFound):
            oci.pull(f"{repo}:absent", out)
        with pytest.raises(NotFound):
            oci.pull(f"{repo}@sha256:" + "0" * 64, out)
        assert not out.exists()
        assert oci.fetch_signature(f"{repo}:v1") is None

    def test_tampered_blob_in_registry_storage_is_integrity_error(self, registry, repo, make_wasm, tmp_path):
        wasm = make_wasm("tamper.wasm", 333)
        res = oci.publish(wasm, f"{repo}:v1")
        hexd = res.layer_digest[7:]
        data_file = registry.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"
        data = bytearray(data_file.read_bytes())
        data[-1] ^= 0xFF
        data_file.write_bytes(bytes(data))
        out = tmp_path / "out.wasm"
        with pytest.raises(IntegrityError):
            oci.pull(f"{repo}:v1", out)
        assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


class TestSignatureReferrer:
    def test_bundle_is_attached_and_fetched_back(self, registry, repo, wasm_file, make_bundle, annotations):
        bundle = make_bundle()
        res = oci.publish(wasm_file, f"{repo}:v1", bundle_path=bundle, annotations=annotations)
        assert res.bundle_manifest_digest
        assert oci.fetch_signature(f"{repo}:v1") == bundle.read_bytes()
        assert oci.fetch_signature(res.ref) == bundle.read_bytes()

        repo_path = repo.split("/", 3)[3]
        # distribution 2.8.2 has no referrers API ...
        assert httpx.get(f"http://{registry}/v2/{repo_path}/referrers/{res.manifest_digest}").status_code == 404
        # ... so the referrers tag schema holds an image index listing the bundle manifest.
        r = get_manifest(registry, repo_path, referrers_tag(res.manifest_digest))
        assert r.status_code == 200 and r.headers["content-type"] == INDEX
        [entry] = r.json()["manifests"]
        assert entry["digest"] == res.bundle_manifest_digest and entry["artifactType"] == SIGSTORE_BUNDLE
        referrer = get_manifest(registry, repo_path, res.bundle_manifest_digest).json()
        assert referrer["artifactType"] == SIGSTORE_BUNDLE
        assert referrer["subject"] == {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": res.manifest_digest,
            "size": len(get_manifest(registry, repo_path, res.manifest_digest).content),
        }
        assert [layer["mediaType"] for layer in referrer["layers"]] == [SIGSTORE_BUNDLE]

    def test_referrers_index_is_merged(self, registry, repo, wasm_file, make_bundle, annotations):
        first, second = make_bundle("a.json", "MEUCIQDfirst"), make_bundle("b.json", "MEUCIQDsecond")
        res = oci.publish(wasm_file, f"{repo}:v1", bundle_path=first, annotations=annotations)
        oci.publish(wasm_file, f"{repo}:v1", bundle_path=second, annotations=annotations)
        oci.publish(wasm_file, f"{repo}:v2", bundle_path=second, annotations=annotations)
        repo_path = repo.split("/", 3)[3]
        index = get_manifest(registry, repo_path, referrers_tag(res.manifest_digest)).json()
        assert len(index["manifests"]) == 2
        assert oci.fetch_signature(f"{repo}:v1") == second.read_bytes()


class TestSkopeoCopy:
    def test_layout_to_registry_keeps_the_digest(self, registry, repo, wasm_file, annotations, skopeo, tmp_path):
        layout = tmp_path / "oci"
        res = oci.publish(wasm_file, f"oci-layout://{layout}:v1", annotations=annotations)
        dest = repo.removeprefix("oci://")
        skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", f"oci:{layout}:v1", f"docker://{dest}:v1")
        assert oci.resolve(f"{repo}:v1") == res.manifest_digest
        out = tmp_path / "from-registry.wasm"
        assert oci.pull(f"{repo}:v1", out).layer_digest == res.layer_digest
        assert out.read_bytes() == wasm_file.read_bytes()

    def test_registry_to_layout_keeps_the_digest(self, repo, wasm_file, annotations, skopeo, tmp_path):
        res = oci.publish(wasm_file, f"{repo}:v1", annotations=annotations)
        layout = tmp_path / "copied"
        src = repo.removeprefix("oci://")
        skopeo("copy", "--preserve-digests", "--src-tls-verify=false", f"docker://{src}:v1", f"oci:{layout}:v1")
        assert oci.resolve(f"oci-layout://{layout}:v1") == res.manifest_digest
        out = tmp_path / "from-layout.wasm"
        assert oci.pull(f"oci-layout://{layout}:v1", out).layer_digest == res.layer_digest
        assert out.read_bytes() == wasm_file.read_bytes()


class TestRegistryDown:
    def test_closed_port_is_registry_unavailable_within_the_timeout(self, wasm_file, tmp_path):
        ref = f"oci://127.0.0.1:{free_port()}/wasmops/down:v1"
        for call in (
            lambda: oci.publish(wasm_file, ref, timeout_s=1.0),
            lambda: oci.pull(ref, tmp_path / "out.wasm", timeout_s=1.0),
            lambda: oci.fetch_signature(ref, timeout_s=1.0),
        ):
            start = time.monotonic()
            with pytest.raises(RegistryUnavailable) as info:
                call()
            elapsed = time.monotonic() - start
            assert 0.5 < elapsed < 5, elapsed
            assert info.value.retryable
            assert ref.split("/")[2] in str(info.value) and "within 1 s" in str(info.value)
        assert not (tmp_path / "out.wasm").exists()


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("auth-registry")
    htpasswd = root / "htpasswd"
    htpasswd.write_text(htpasswd_line("ci", "s3cret"))
    server = start_registry(root, htpasswd=htpasswd)
    try:
        yield server.address
    finally:
        server.stop()


class TestBasicAuth:
    def test_credentials_from_env(self, auth_registry, wasm_file, make_bundle, tmp_path, monkeypatch):
        ref = f"oci://{auth_registry}/wasmops/private:v1"
        monkeypatch.delenv("WASMOPS_REGISTRY_USER", raising=False)
        monkeypatch.delenv("WASMOPS_REGISTRY_PASSWORD", raising=False)
        with pytest.raises(ConfigError, match="WASMOPS_REGISTRY_USER"):
            oci.publish(wasm_file, ref, timeout_s=2)
        monkeypatch.setenv("WASMOPS_REGISTRY_USER", "ci")
        monkeypatch.setenv("WASMOPS_REGISTRY_PASSWORD", "wrong")
        with pytest.raises(ConfigError):
            oci.pull(ref, tmp_path / "out.wasm", timeout_s=2)

        monkeypatch.setenv("WASMOPS_REGISTRY_PASSWORD", "s3cret")
        log_before = auth_registry.log.read_text()
        bundle = make_bundle()
        res = oci.publish(wasm_file, ref, bundle_path=bundle, timeout_s=2)
        assert oci.pull(ref, tmp_path / "out.wasm").layer_digest == res.layer_digest
        assert oci.fetch_signature(ref) == bundle.read_bytes()
        # Credentials go out up front: no request was answered 401 and sent again.
        new_lines = auth_registry.log.read_text()[len(log_before):].splitlines()
        access = [line for line in new_lines if '" 401 ' in line or '" 20' in line]
        assert access, new_lines[:5]
        assert not [line for line in access if '" 401 ' in line]
