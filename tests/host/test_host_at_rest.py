"""Trust nothing at rest, against the real host process: files edited on the host's disk between
two starts are refused and reported, and a digest is accepted only for the ref it was published to."""

from __future__ import annotations

import pytest
import wasmtime

from wasmops.host.client import HostClient

from support.host import HostProcess, make_workspace
from support.wat import FIXTURES

WAT = {n: (FIXTURES / "hostile" / f"{n}.wat").read_text() for n in ("ok", "other", "exit7")}
LIMITS = {"fuel": 50_000_000, "memory": "4Mi", "timeout_ms": 1000, "max_stdout": "1Mi"}


def _deploy(c: HostClient, ws, name: str, wat: str) -> dict:
    ref, digest = ws.publish_wat(name, wat)
    return c.deploy("dev", name, ref=ref, digest=digest, limits=LIMITS)["module"]


def _module(c: HostClient, name: str) -> dict:
    return next(m for m in c.modules() if m["name"] == name)


def _metric(text: str, name: str, **labels) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture()
def ws(tmp_path):
    return make_workspace(tmp_path / "ws")


def test_a_replaced_blob_is_stalled_after_restart_and_a_fresh_deploy_repairs_it(ws):
    hp = HostProcess(ws)
    c = hp.start()
    try:
        victim = _deploy(c, ws, "victim", WAT["ok"])
        _deploy(c, ws, "bystander", WAT["other"])
    finally:
        hp.stop()
    # Another valid module under the victim's admitted digest, and no compile cache to hide behind.
    blob = ws.home / "host" / "blobs" / (victim["wasm_digest"].split(":")[1] + ".wasm")
    blob.write_bytes(wasmtime.wat2wasm(WAT["other"]))
    for f in (ws.home / "cache" / "compiled").glob(victim["wasm_digest"].split(":")[1] + ".*"):
        f.unlink()
    c = hp.start()
    try:
        m = _module(c, "victim")
        assert m["health"] == "Stalled" and m["health_reason"] == "BlobDigestMismatch", m
        assert "hashes to" in m["health_message"]
        r = c.run("dev", "victim", b"{}")
        assert r.status_code == 503 and r.json()["error"] == "ModuleStalled"
        assert "x-wasmops-exit-code" not in r.headers       # the host answered, not the module
        assert c.run("dev", "bystander", b"{}").json() == {"other": 1}
        assert _module(c, "bystander")["health"] == "Healthy"
        assert _metric(c.metrics(), "wasmops_integrity_failures_total", module="victim",
                       reason="BlobDigestMismatch") == 1
        assert any(e["module"] == "dev/victim" and e["reason"] == "BlobDigestMismatch" for e in c.events())
        # The repair is a fresh deploy of what Git says: pulled, verified, the blob rewritten.
        again = c.deploy("dev", "victim", ref=victim["ref"], digest=victim["digest"], limits=LIMITS)
        assert again["changed"] is True
        assert c.run("dev", "victim", b"{}").json() == {"ok": True}
        assert _module(c, "victim")["health"] == "Healthy"
        assert blob.read_bytes() == wasmtime.wat2wasm(WAT["ok"])
    finally:
        hp.stop()


def test_a_tampered_signature_bundle_at_rest_stalls_the_module(ws):
    hp = HostProcess(ws)
    c = hp.start()
    try:
        m = _deploy(c, ws, "signed", WAT["ok"])
    finally:
        hp.stop()
    bundle = ws.home / "host" / "blobs" / (m["wasm_digest"].split(":")[1] + ".sigstore.json")
    text = bundle.read_text()
    sig_at = text.index('"signature"') + len('"signature": "') + 4
    bundle.write_text(text[:sig_at] + ("A" if text[sig_at] != "A" else "B") + text[sig_at + 1:])
    c = hp.start()
    try:
        got = _module(c, "signed")
        assert got["health"] == "Stalled" and got["health_reason"] == "SignatureInvalid", got
    finally:
        hp.stop()


def test_a_foreign_precompiled_module_is_discarded_and_recompiled(ws):
    hp = HostProcess(ws)
    c = hp.start()
    try:
        victim = _deploy(c, ws, "victim", WAT["ok"])
        donor = _deploy(c, ws, "donor", WAT["exit7"])
    finally:
        hp.stop()
    cache = ws.home / "cache" / "compiled"
    [vfile] = cache.glob(victim["wasm_digest"].split(":")[1] + ".*.cwasm")
    [dfile] = cache.glob(donor["wasm_digest"].split(":")[1] + ".*.cwasm")
    vfile.write_bytes(dfile.read_bytes())          # the donor's authentic file, copied over the victim's
    c = hp.start()
    try:
        r = c.run("dev", "victim", b"{}")
        assert r.status_code == 200 and r.json() == {"ok": True}      # the victim's own code, not exit 7
        assert c._call("GET", "/admin/stats").json()["compiles"] == 1
        assert _module(c, "victim")["health"] == "Healthy"
        assert _metric(c.metrics(), "wasmops_integrity_failures_total", module="victim",
                       reason="CompiledModuleRejected") == 1
        assert vfile.read_bytes() != dfile.read_bytes()
    finally:
        hp.stop()
    # A bare wasmtime serialization (no MAC) is refused the same way.
    vfile.write_bytes(wasmtime.Module(wasmtime.Engine(), wasmtime.wat2wasm(WAT["exit7"])).serialize())
    c = hp.start()
    try:
        assert c.run("dev", "victim", b"{}").json() == {"ok": True}
        assert c._call("GET", "/admin/stats").json()["compiles"] == 1
    finally:
        hp.stop()
    assert oct(((ws.home / "host" / "cache.key").stat().st_mode) & 0o777) == "0o600"


def test_a_digest_is_accepted_only_for_the_ref_it_was_published_to(ws):
    hp = HostProcess(ws)
    c = hp.start()
    try:
        ref_a, digest_a = ws.publish_wat("mod-a", WAT["ok"])
        ref_b, digest_b = ws.publish_wat("mod-b", WAT["other"])   # signed by the same trusted key
        r = c.http.put("/admin/modules/dev/mod-a", json={"ref": ref_a, "digest": digest_b, "limits": LIMITS})
        assert r.status_code == 422, r.text
        assert "published to mod-b, not mod-a" in r.json()["message"]
        assert "mod-a" not in {m["name"] for m in c.modules()}
        assert c.deploy("dev", "mod-a", ref=ref_a, digest=digest_a, limits=LIMITS)["changed"] is True
        r = c.http.put("/admin/modules/dev/mod-a", json={"ref": ref_a, "digest": digest_b, "limits": LIMITS})
        assert r.status_code == 422
        assert c.run("dev", "mod-a", b"{}").json() == {"ok": True}      # A still serves A
    finally:
        hp.stop()


def test_an_artifact_without_the_repository_annotation_must_be_what_the_ref_holds(ws, tmp_path):
    """Artifacts published before the annotation existed: accepted only where the ref's tag holds them."""
    from wasmops.supply.oci.artifact import attach_bundle, build_wasm_artifact, open_store
    from wasmops.supply.oci.store import MANIFEST, descriptor
    from wasmops.supply.signing import sign_file

    def legacy(tag: str, wat: str) -> tuple[str, str]:
        path = tmp_path / f"{tag}.wasm"
        path.write_bytes(wasmtime.wat2wasm(wat))
        bundle = sign_file(path, private_key_path=ws.settings.private_key, backend="offline")
        layer, config, manifest = build_wasm_artifact(path, {})
        ref = f"oci-layout://{ws.settings.oci_layout}:{tag}"
        with open_store(ref) as store:
            store.put_blob(path, layer["digest"], layer["size"])
            store.put_blob(config, "sha256:" + __import__("hashlib").sha256(config).hexdigest(), len(config))
            digest = store.put_manifest(manifest, MANIFEST)
            attach_bundle(store, descriptor(MANIFEST, digest, len(manifest)), bundle.read_bytes(), {})  # no repository
            store.put_manifest(manifest, MANIFEST, tag=tag)
        return ref, digest

    ref_a, digest_a = legacy("old-a", WAT["ok"])
    _ref_b, digest_b = legacy("old-b", WAT["other"])
    hp = HostProcess(ws)
    c = hp.start()
    try:
        r = c.http.put("/admin/modules/dev/old-a", json={"ref": ref_a, "digest": digest_b, "limits": LIMITS})
        assert r.status_code == 422 and "is not what old-a holds" in r.json()["message"], r.text
        assert c.deploy("dev", "old-a", ref=ref_a, digest=digest_a, limits=LIMITS)["changed"] is True
    finally:
        hp.stop()
