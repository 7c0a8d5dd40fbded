"""The seams of a release, unit by unit (no Prefect, no host): the digest vocabulary, references
built and pinned by ``oci.refs.Ref`` (checked against the string code they replaced, on generated
references), the one atomic writer, and the release's plain decisions."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from wasmops.gitops.desired import artifact_ref
from wasmops.digests import hex_of, is_digest, named, sha256_bytes
from wasmops.errors import BudgetBlocked, QuarantinedError, UserError
from wasmops.fsutil import atomic_file, atomic_write
from wasmops.host.admission import pinned_ref
from wasmops.supply.oci.refs import parse_ref
from wasmops.release.decide import (approval_terms, check_gate, provenance, refuse_quarantined_manifest,
                                    refuse_quarantined_wasm, target_manifest)
from wasmops.release.steps import Built, GateVerdict, Proposal, Published, Signed

_component = st.from_regex(r"[a-z0-9]{1,8}(-[a-z0-9]{1,5})?", fullmatch=True)
_repo = st.lists(_component, min_size=1, max_size=3).map("/".join)
_tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,20}", fullmatch=True)
_host = st.sampled_from(["127.0.0.1:5000", "localhost:5000", "registry.example.com", "r.io:443"])
_path = st.lists(_component, min_size=1, max_size=3).map(lambda parts: "/" + "/".join(parts))
_hex = st.binary(min_size=1, max_size=64).map(lambda b: hashlib.sha256(b).hexdigest())


def _old_pinned_ref(ref: str, digest: str) -> str:
    """host/admission.pinned_ref before it used Ref: the oracle."""
    base = ref.split("@", 1)[0]
    scheme, rest = base.split("://", 1)
    tail = rest.rsplit("/", 1)[-1]
    if ":" in tail:
        base = base[: base.rfind(":")]
    return f"{scheme}://{base.split('://', 1)[1]}@{digest}"


def _old_artifact_ref(repository: str, tag: str, registry: str, digest: str | None = None) -> str:
    """desired.artifact_ref before it used Ref: the oracle."""
    if "://" in repository:
        base, t = repository, tag
    elif registry.startswith("oci-layout://"):
        base, t = registry, f"{repository.replace('/', '-')}-{tag}"
    else:
        base, t = f"{registry.rstrip('/')}/{repository}", tag
    ref = f"{base}:{t}"
    return f"{ref}@{digest}" if digest else ref


@settings(max_examples=60, deadline=None)
@given(_hex)
def test_named_and_hex_of_are_inverse_and_match_the_hashers(h):
    assert named(h) == "sha256:" + h and hex_of(named(h)) == h and is_digest(named(h))
    data = bytes.fromhex(h)
    assert hex_of(sha256_bytes(data)) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("bad", ["", "sha256:", "sha256:ABC", "md5:" + "0" * 64, "0" * 64, "sha256:" + "g" * 64])
def test_hex_of_refuses_what_is_not_a_sha256_digest(bad):
    with pytest.raises(ValueError, match="not a sha256 digest"):
        hex_of(bad)


@settings(max_examples=80, deadline=None)
@given(kind=st.sampled_from(["registry", "layout"]), host=_host, repo=_repo, path=_path,
       tag=st.none() | _tag, old=st.none() | _hex, h=_hex)
def test_pinned_ref_is_what_the_string_code_made(kind, host, repo, path, tag, old, h):
    ref = f"oci://{host}/{repo}" if kind == "registry" else f"oci-layout://{path}"
    ref += f":{tag}" if tag else ""
    ref += f"@{named(old)}" if old else ""
    assert pinned_ref(ref, named(h)) == _old_pinned_ref(ref, named(h))
    assert parse_ref(pinned_ref(ref, named(h))).tag is None


@settings(max_examples=80, deadline=None)
@given(kind=st.sampled_from(["registry", "layout", "full"]), host=_host, repo=_repo, path=_path, tag=_tag,
       digest=st.none() | _hex)
def test_artifact_ref_is_what_the_string_code_made(kind, host, repo, path, tag, digest):
    registry = f"oci://{host}" if kind != "layout" else f"oci-layout://{path}"
    repository = f"oci://{host}/{repo}" if kind == "full" else repo
    d = named(digest) if digest else None
    got = artifact_ref(repository, tag, registry, d)
    assert got == _old_artifact_ref(repository, tag, registry, d)
    assert str(parse_ref(got)) == got


def test_atomic_file_leaves_the_old_content_and_no_temp_file_on_error(tmp_path):
    target = tmp_path / "sub" / "f.bin"
    atomic_write(target, b"old")
    with pytest.raises(RuntimeError), atomic_file(target) as fh:
        fh.write(b"half of the new")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir()] == ["f.bin"]


def _built(h: str) -> Built:
    return Built(name="m", path="/nowhere/m.wasm", wasm_digest=named(h), source_digest=named(h[::-1]),
                 toolchain="t", module_dir="/nowhere")


@settings(max_examples=30, deadline=None)
@given(h=_hex, m=_hex)
def test_the_release_decisions_on_generated_digests(h, m):
    assume(h != m)
    built = _built(h)
    assert built.tag == h[:12]
    pub = Published(ref=f"oci-layout:///x/oci:m-{built.tag}", manifest_digest=named(m), wasm_digest=built.wasm_digest,
                    bundle_manifest_digest=named(h))
    prop = Proposal.release(built, pub)
    assert (prop.manifest_digest, prop.wasm_digest, prop.tag) == (named(m), named(h), f"m-{built.tag}")
    signed = Signed(wasm_digest=built.wasm_digest, bundle_path="/b", bundle_digest=named(m[::-1]))
    trailers = provenance(built, signed, source_revision="", flow_run_id="r", releaser="rita")
    assert trailers["Source-Revision"] == built.source_digest and trailers["Wasm-Digest"] == named(h)
    desired = SimpleNamespace(quarantine={named(m)}, deployments={})
    refuse_quarantined_wasm(desired, built, "dev/m")            # the wasm is not quarantined
    with pytest.raises(QuarantinedError, match=f"artifact {named(m)}"):
        refuse_quarantined_manifest(desired, pub, "dev/m")


def test_budget_gate_consequences_and_target_checks():
    with pytest.raises(BudgetBlocked, match="strict budget: over by 3"):
        check_gate(GateVerdict.of({"outcome": "blocked", "message": "over by 3", "markdown": ""}), "dev/m")
    gate = check_gate(GateVerdict.of({"outcome": "ok", "message": None, "markdown": None}), "dev/m")
    assert approval_terms(gate, auto_approve=True) == {"auto_approve": True, "force": False, "extra": ""}
    prod = SimpleNamespace(spec=SimpleNamespace(environment="prod"))
    desired = SimpleNamespace(deployments={"prod/m": prod}, quarantine=set())
    with pytest.raises(UserError, match="no WasmModuleDeployment dev/m"):
        target_manifest(desired, "dev/m", auto_approve=False, where="gitops")
    with pytest.raises(UserError, match="--auto-approve is for dev only"):
        target_manifest(desired, "prod/m", auto_approve=True, where="gitops")
    assert target_manifest(desired, "prod/m", auto_approve=False, where="gitops") is prod
    rb = Proposal.rollback(SimpleNamespace(digest=named("a" * 64), tag="v1"))
    assert (rb.manifest_digest, rb.tag, rb.wasm_digest) == (named("a" * 64), "v1", None)
