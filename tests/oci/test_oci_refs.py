"""Parsing oci:// and oci-layout:// references."""

import pytest

from wasmops.errors import SpecError, UserError
from wasmops.supply.oci import parse_ref

D = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    "text, fields",
    [
        (
            "oci://127.0.0.1:5000/wasmops/hello:v1",
            dict(kind="registry", host="127.0.0.1:5000", repo="wasmops/hello", tag="v1", digest=None),
        ),
        (
            f"oci://registry.example.com/a/b/c@{D}",
            dict(host="registry.example.com", repo="a/b/c", tag=None, digest=D, reference=D),
        ),
        (
            f"oci://localhost/hello:1.0_rc-2@{D}",
            dict(host="localhost", repo="hello", tag="1.0_rc-2", digest=D, reference=D),
        ),
        ("oci://[::1]:5000/x", dict(host="[::1]:5000", repo="x", reference="latest")),
        ("oci-layout://.wasmops/oci:hello", dict(kind="layout", path=".wasmops/oci", tag="hello")),
        ("oci-layout:///srv/oci", dict(path="/srv/oci", tag=None, reference="latest")),
        (f"oci-layout:///srv/oci:v2@{D}", dict(path="/srv/oci", tag="v2", digest=D)),
        ("oci-layout://rel/dir/", dict(path="rel/dir", tag=None)),
        ("oci-layout://./a.b/oci:t", dict(path="./a.b/oci", tag="t")),
    ],
)
def test_good_refs(text, fields):
    ref = parse_ref(text)
    for name, want in fields.items():
        assert getattr(ref, name) == want, name
    assert parse_ref(str(ref)) == ref


@pytest.mark.parametrize(
    "text",
    [
        "",
        "docker://127.0.0.1/x",
        "127.0.0.1:5000/wasmops/hello",
        "oci://127.0.0.1:5000",
        "oci://127.0.0.1:5000/",
        "oci://127.0.0.1:5000/Upper/case",
        "oci://127.0.0.1:5000/x:bad tag",
        "oci://127.0.0.1:5000/x:-dash",
        "oci://127.0.0.1:5000/x@sha256:short",
        "oci://127.0.0.1:5000/x@sha512:" + "a" * 128,
        "oci://127.0.0.1:99999/x",
        "oci-layout://",
        "oci-layout://:tag",
        "oci-layout://dir:bad!tag",
        "oci-layout://dir@sha256:nothex",
    ],
)
def test_bad_refs_name_the_reference(text):
    with pytest.raises(SpecError) as info:
        parse_ref(text)
    assert isinstance(info.value, UserError) and not info.value.retryable
    assert (text or "''") in str(info.value)


def test_insecure_only_for_loopback(monkeypatch):
    monkeypatch.delenv("WASMOPS_REGISTRY_INSECURE", raising=False)
    assert parse_ref("oci://127.0.0.1:5000/x").insecure
    assert parse_ref("oci://localhost:5000/x").insecure
    assert not parse_ref("oci://registry.example.com/x").insecure
    monkeypatch.setenv("WASMOPS_REGISTRY_INSECURE", "1")
    assert parse_ref("oci://registry.example.com/x").insecure


def test_with_digest_and_tag():
    ref = parse_ref("oci://127.0.0.1:5000/x:v1").with_digest(D)
    assert str(ref) == f"oci://127.0.0.1:5000/x:v1@{D}"
    with pytest.raises(SpecError):
        ref.with_digest("sha256:nope")
    with pytest.raises(SpecError):
        ref.with_tag("no tag")
