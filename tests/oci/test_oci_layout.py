"""The embedded store: an OCI image-layout directory, checked with skopeo as an independent reader."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from wasmops.supply import oci
from wasmops.errors import ConfigError, IntegrityError, NotFound, SpecError
from wasmops.supply.oci.store import referrers_tag


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def leftovers(directory):
    return [p.name for p in directory.iterdir() if p.name.startswith(".")]


@pytest.fixture
def layout(tmp_path):
    return tmp_path / "oci"


class TestRoundTrip:
    def test_publish_then_pull_keeps_the_bytes(self, layout, wasm_file, tmp_path, annotations):
        res = oci.publish(wasm_file, f"oci-layout://{layout}:v1", annotations=annotations)
        assert res.layer_digest == sha256(wasm_file.read_bytes())
        assert res.size == wasm_file.stat().st_size
        assert res.ref == f"oci-layout://{layout}:v1@{res.manifest_digest}"
        assert res.bundle_manifest_digest is None

        out = tmp_path / "out" / "pulled.wasm"
        got = oci.pull(f"oci-layout://{layout}:v1", out)
        assert out.read_bytes() == wasm_file.read_bytes()
        assert (got.manifest_digest, got.layer_digest, got.size, got.path) == (
            res.manifest_digest, res.layer_digest, res.size, out)
        assert oci.resolve(f"oci-layout://{layout}:v1") == res.manifest_digest
        assert oci.pull(res.ref, tmp_path / "pinned.wasm").layer_digest == res.layer_digest

    def test_layout_is_spec_shaped(self, layout, wasm_file, annotations):
        res = oci.publish(wasm_file, f"oci-layout://{layout}:v1", annotations=annotations)
        assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
        index = json.loads((layout / "index.json").read_text())
        assert index["schemaVersion"] == 2 and index["mediaType"] == oci.store.INDEX
        [entry] = index["manifests"]
        assert entry["digest"] == res.manifest_digest
        assert entry["annotations"] == {"org.opencontainers.image.ref.name": "v1"}
        for blob in (layout / "blobs" / "sha256").iterdir():
            assert "sha256:" + blob.name == sha256(blob.read_bytes())

        manifest = json.loads((layout / "blobs" / "sha256" / res.manifest_digest[7:]).read_bytes())
        assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
        assert manifest["config"]["mediaType"] == "application/vnd.wasm.config.v0+json"
        assert manifest["annotations"] == annotations
        [layer] = manifest["layers"]
        assert layer["mediaType"] == "application/wasm"
        assert layer["annotations"] == {"org.opencontainers.image.title": "hello.wasm"}
        config = json.loads((layout / "blobs" / "sha256" / manifest["config"]["digest"][7:]).read_bytes())
        assert config == {
            "created": annotations["org.opencontainers.image.created"],
            "architecture": "wasm",
            "os": "wasip1",
            "layerDigests": [res.layer_digest],
        }

    def test_same_input_same_digest(self, tmp_path, wasm_file, annotations):
        a = oci.publish(wasm_file, f"oci-layout://{tmp_path}/a:v1", annotations=annotations)
        b = oci.publish(wasm_file, f"oci-layout://{tmp_path}/b:other", annotations=annotations)
        assert a.manifest_digest == b.manifest_digest

    def test_republishing_a_tag_replaces_its_entry(self, layout, tmp_path, wasm_file, annotations, make_wasm):
        first = oci.publish(wasm_file, f"oci-layout://{layout}:v1", annotations=annotations)
        oci.publish(wasm_file, f"oci-layout://{layout}:stable", annotations=annotations)
        other = make_wasm("other.wasm", 1000)
        second = oci.publish(other, f"oci-layout://{layout}:v1", annotations=annotations)
        assert second.manifest_digest != first.manifest_digest
        tags = [(m["annotations"]["org.opencontainers.image.ref.name"], m["digest"])
                for m in json.loads((layout / "index.json").read_text())["manifests"]]
        assert sorted(tags) == sorted([("stable", first.manifest_digest), ("v1", second.manifest_digest)])
        assert oci.pull(f"oci-layout://{layout}:v1", tmp_path / "o.wasm").layer_digest == second.layer_digest
        assert leftovers(layout) == []


class TestSkopeoReadsIt:
    def test_inspect_raw_shows_wasm_media_types(self, layout, wasm_file, skopeo, annotations):
        res = oci.publish(wasm_file, f"oci-layout://{layout}:v1", annotations=annotations)
        raw = skopeo("inspect", "--raw", f"oci:{layout}:v1").encode()
        assert sha256(raw) == res.manifest_digest
        manifest = json.loads(raw)
        assert manifest["config"]["mediaType"] == "application/vnd.wasm.config.v0+json"
        assert [layer["mediaType"] for layer in manifest["layers"]] == ["application/wasm"]

    def test_signature_referrer_and_fallback_tag(
        self, layout, wasm_file, bundle_file, skopeo, annotations, make_bundle
    ):
        res = oci.publish(wasm_file, f"oci-layout://{layout}:v1", bundle_path=bundle_file, annotations=annotations)
        assert oci.fetch_signature(f"oci-layout://{layout}:v1") == bundle_file.read_bytes()
        assert oci.fetch_signature(res.ref) == bundle_file.read_bytes()

        tag = referrers_tag(res.manifest_digest)
        assert tag == "sha256-" + res.manifest_digest[7:]
        index = json.loads(skopeo("inspect", "--raw", f"oci:{layout}:{tag}"))
        [entry] = index["manifests"]
        assert entry["digest"] == res.bundle_manifest_digest
        assert entry["artifactType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
        referrer = json.loads((layout / "blobs" / "sha256" / entry["digest"][7:]).read_bytes())
        assert referrer["subject"]["digest"] == res.manifest_digest
        assert referrer["artifactType"] == entry["artifactType"]
        assert referrer["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
        names = {
            m["digest"]: (m.get("annotations") or {}).get("org.opencontainers.image.ref.name")
            for m in json.loads((layout / "index.json").read_text())["manifests"]
        }
        assert len(names) == 3 and names[res.manifest_digest] == "v1"
        assert names[res.bundle_manifest_digest] is None and tag in names.values()

        # A second signature is merged into the same index; the same one twice is not duplicated.
        newer = make_bundle("newer.json", "MEUCIQDnewer")
        oci.publish(wasm_file, f"oci-layout://{layout}:v1", bundle_path=newer, annotations=annotations)
        oci.publish(wasm_file, f"oci-layout://{layout}:v1", bundle_path=newer, annotations=annotations)
        index = json.loads(skopeo("inspect", "--raw", f"oci:{layout}:{tag}"))
        assert len(index["manifests"]) == 2
        assert oci.fetch_signature(f"oci-layout://{layout}:v1") == newer.read_bytes()

    def test_no_signature_is_none(self, layout, wasm_file):
        oci.publish(wasm_file, f"oci-layout://{layout}:v1")
        assert oci.fetch_signature(f"oci-layout://{layout}:v1") is None


class TestFailures:
    def test_missing_tag_is_not_found_and_writes_nothing(self, layout, wasm_file, tmp_path):
        oci.publish(wasm_file, f"oci-layout://{layout}:v1")
        out = tmp_path / "out.wasm"
        with pytest.raises(NotFound, match="nope"):
            oci.pull(f"oci-layout://{layout}:nope", out)
        assert not out.exists() and leftovers(tmp_path) == []
        with pytest.raises(NotFound):
            oci.pull(f"oci-layout://{layout}@sha256:" + "0" * 64, out)
        with pytest.raises(NotFound, match="no OCI image layout"):
            oci.pull(f"oci-layout://{tmp_path}/missing:v1", out)
        assert not out.exists()

    def test_corrupted_layer_is_integrity_error_and_keeps_old_file(self, layout, wasm_file, tmp_path):
        res = oci.publish(wasm_file, f"oci-layout://{layout}:v1")
        blob = layout / "blobs" / "sha256" / res.layer_digest[7:]
        data = bytearray(blob.read_bytes())
        data[-1] ^= 0xFF
        blob.write_bytes(bytes(data))
        out = tmp_path / "out.wasm"
        with pytest.raises(IntegrityError, match="digest mismatch"):
            oci.pull(f"oci-layout://{layout}:v1", out)
        assert not out.exists() and leftovers(tmp_path) == []
        out.write_bytes(b"old")
        with pytest.raises(IntegrityError):
            oci.pull(f"oci-layout://{layout}:v1", out)
        assert out.read_bytes() == b"old"
        # Re-publishing repairs the blob.
        oci.publish(wasm_file, f"oci-layout://{layout}:v1")
        assert oci.pull(f"oci-layout://{layout}:v1", out).size == res.size

    def test_truncated_layer_is_integrity_error(self, layout, wasm_file, tmp_path):
        res = oci.publish(wasm_file, f"oci-layout://{layout}:v1")
        (layout / "blobs" / "sha256" / res.layer_digest[7:]).write_bytes(b"\0asm")
        with pytest.raises(IntegrityError, match="bytes"):
            oci.pull(f"oci-layout://{layout}:v1", tmp_path / "out.wasm")

    def test_corrupted_manifest_is_integrity_error(self, layout, wasm_file, tmp_path):
        res = oci.publish(wasm_file, f"oci-layout://{layout}:v1")
        (layout / "blobs" / "sha256" / res.manifest_digest[7:]).write_bytes(b'{"schemaVersion":2}')
        with pytest.raises(IntegrityError):
            oci.pull(f"oci-layout://{layout}:v1", tmp_path / "out.wasm")
        with pytest.raises(IntegrityError):
            oci.resolve(f"oci-layout://{layout}:v1")

    def test_bad_inputs(self, layout, wasm_file, tmp_path):
        with pytest.raises(SpecError, match="digest"):
            oci.publish(wasm_file, f"oci-layout://{layout}@sha256:" + "0" * 64)
        not_wasm = tmp_path / "x.wasm"
        not_wasm.write_text("hello")
        with pytest.raises(SpecError, match="WebAssembly"):
            oci.publish(not_wasm, f"oci-layout://{layout}:v1")
        with pytest.raises(ConfigError):
            oci.publish(tmp_path / "absent.wasm", f"oci-layout://{layout}:v1")
        occupied = tmp_path / "occupied"
        occupied.mkdir()
        (occupied / "file").write_text("x")
        with pytest.raises(ConfigError, match="not an OCI image layout"):
            oci.publish(wasm_file, f"oci-layout://{occupied}:v1")

    def test_pulling_a_non_wasm_manifest_is_spec_error(self, layout, wasm_file, bundle_file, tmp_path):
        res = oci.publish(wasm_file, f"oci-layout://{layout}:v1", bundle_path=bundle_file)
        with pytest.raises(SpecError, match="not a Wasm artifact"):
            oci.pull(f"oci-layout://{layout}:{referrers_tag(res.manifest_digest)}", tmp_path / "x.wasm")
        with pytest.raises(SpecError, match="not a Wasm artifact"):
            oci.pull(f"oci-layout://{layout}@{res.bundle_manifest_digest}", tmp_path / "x.wasm")


def test_concurrent_publishers_keep_every_tag(layout, wasm_file):
    tags = [f"t{i}" for i in range(8)]
    # The same input, so the same digest: with ``created`` fixed. Left to the clock (second resolution),
    # publishes that straddle a second on a busy machine made two digests (seen once in CI).
    ann = {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"}
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda t: oci.publish(wasm_file, f"oci-layout://{layout}:{t}", annotations=ann), tags))
    assert len({r.manifest_digest for r in results}) == 1
    with oci.open_store(f"oci-layout://{layout}") as store:
        assert isinstance(store, oci.Store)
        assert sorted(store.tags()) == tags


def test_relative_layout_path(tmp_path, wasm_file, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = oci.publish(wasm_file, "oci-layout://rel/oci:v1")
    assert (tmp_path / "rel" / "oci" / "index.json").is_file()
    assert oci.resolve("oci-layout://rel/oci:v1") == res.manifest_digest
