"""OCI references: where an artifact lives, by tag and/or digest.

Two schemes are understood::

    oci://HOST[:PORT]/REPO[:TAG][@sha256:HEX]       an OCI registry (spoken to through oras-py)
    oci-layout://PATH[:TAG][@sha256:HEX]            an OCI image-layout directory (the embedded default)

Example::

    >>> from wasmops.supply.oci.refs import parse_ref
    >>> r = parse_ref("oci://127.0.0.1:5000/wasmops/hello:v1")
    >>> r.host, r.repo, r.tag, r.reference, r.insecure
    ('127.0.0.1:5000', 'wasmops/hello', 'v1', 'v1', True)
    >>> parse_ref("oci-layout://.wasmops/oci:hello").path
    '.wasmops/oci'
    >>> str(parse_ref("oci-layout:///srv/oci").with_digest("sha256:" + "a" * 64))[:30]
    'oci-layout:///srv/oci@sha256:a'

Rules:

* A reference with neither tag nor digest means the tag ``latest``.
* Only ``sha256`` digests are accepted; the lowercase hex must be 64 characters.
* For ``oci-layout://`` the text after the last ``:`` is a tag only when it contains no ``/``; so a
  layout PATH may not end in a component that contains ``:`` or ``@``. PATH may be relative (to the
  current directory) or absolute (``oci-layout:///abs/path``).
* Registries on 127.0.0.1, ``localhost`` or ``[::1]`` are spoken to over plain HTTP (``insecure``);
  every other host uses HTTPS unless ``WASMOPS_REGISTRY_INSECURE=1`` is set.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from wasmops.digests import DIGEST_RE
from wasmops.errors import SpecError

DEFAULT_TAG = "latest"

TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_REPO = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:]+\])(?::[0-9]{{1,5}})?"
_REGISTRY_RE = re.compile(
    rf"^oci://(?P<host>{_HOST})/(?P<repo>{_REPO})(?::(?P<tag>[^@/:]+))?(?:@(?P<digest>[^@]+))?$"
)
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]"}

REGISTRY_SCHEME = "oci://"
LAYOUT_SCHEME = "oci-layout://"
USAGE = "use oci://HOST[:PORT]/REPO[:TAG][@sha256:...] or oci-layout://PATH[:TAG][@sha256:...]"


@dataclass(frozen=True)
class Ref:
    """A parsed reference. ``kind`` is ``registry`` (host + repo) or ``layout`` (path)."""

    kind: Literal["registry", "layout"]
    tag: str | None = None
    digest: str | None = None
    host: str | None = None
    repo: str | None = None
    path: str | None = None

    @property
    def reference(self) -> str:
        """What to ask the store for: the digest when pinned, else the tag (default ``latest``)."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def effective_tag(self) -> str | None:
        """The tag a publish writes: the given tag, ``latest`` when nothing is given, else None."""
        if self.tag:
            return self.tag
        return None if self.digest else DEFAULT_TAG

    @property
    def location(self) -> str:
        """The store part without tag or digest: ``oci://host/repo`` or ``oci-layout://path``."""
        if self.kind == "registry":
            return f"{REGISTRY_SCHEME}{self.host}/{self.repo}"
        return f"{LAYOUT_SCHEME}{self.path}"

    @property
    def insecure(self) -> bool:
        """True when the registry is spoken to over plain HTTP (loopback hosts, or opted in by env)."""
        if self.kind != "registry" or not self.host:
            return False
        from wasmops.config import current

        if current().registry_insecure:
            return True
        host = self.host
        if host.startswith("["):
            host = host[: host.index("]") + 1]
        else:
            host = host.split(":", 1)[0]
        return host in _LOCAL_HOSTS

    def with_digest(self, digest: str) -> Ref:
        """The same reference pinned to ``digest`` (the tag is kept for readability)."""
        _check_digest(digest, str(self))
        return replace(self, digest=digest)

    def pinned(self, digest: str) -> Ref:
        """Pinned to ``digest`` with the tag dropped: the digest is what counts (``REF@digest``).

            >>> str(parse_ref("oci://127.0.0.1:5000/w/greet:v1").pinned("sha256:" + "b" * 64))[:36]
            'oci://127.0.0.1:5000/w/greet@sha256:'
        """
        _check_digest(digest, str(self))
        return replace(self, tag=None, digest=digest)

    def with_tag(self, tag: str | None) -> Ref:
        if tag is not None and not TAG_RE.match(tag):
            raise SpecError(f"not a valid tag: {tag!r}", where=str(self))
        return replace(self, tag=tag)

    def __str__(self) -> str:
        s = self.location
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s


def _check_digest(digest: str, where: str) -> None:
    if not DIGEST_RE.match(digest):
        raise SpecError(
            f"not a sha256 digest: {digest!r} (expected sha256: and 64 lowercase hex characters)",
            where=where,
        )


def parse_ref(s: str | Ref) -> Ref:
    """Parse ``oci://...`` or ``oci-layout://...``; a bad reference raises SpecError naming it."""
    if isinstance(s, Ref):
        return s
    if not isinstance(s, str) or not s.strip():
        raise SpecError(f"empty OCI reference; {USAGE}", where=repr(s))
    s = s.strip()
    if s.startswith(REGISTRY_SCHEME):
        return _parse_registry(s)
    if s.startswith(LAYOUT_SCHEME):
        return _parse_layout(s)
    raise SpecError(f"unknown OCI reference scheme; {USAGE}", where=s)


def _parse_registry(s: str) -> Ref:
    m = _REGISTRY_RE.match(s)
    if not m:
        raise SpecError(
            "not a registry reference (host, lowercase repository path, tag and digest expected); " + USAGE,
            where=s,
        )
    tag, digest = m.group("tag"), m.group("digest")
    if tag is not None and not TAG_RE.match(tag):
        raise SpecError(f"not a valid tag: {tag!r}", where=s)
    if digest is not None:
        _check_digest(digest, s)
    port = m.group("host").rsplit(":", 1)[-1] if m.group("host").count(":") == 1 else None
    if port is not None and not (0 < int(port) < 65536):
        raise SpecError(f"port out of range: {port}", where=s)
    return Ref(kind="registry", host=m.group("host"), repo=m.group("repo"), tag=tag, digest=digest)


def _parse_layout(s: str) -> Ref:
    rest = s[len(LAYOUT_SCHEME):]
    digest = None
    if "@" in rest:
        rest, digest = rest.rsplit("@", 1)
        _check_digest(digest, s)
    tag = None
    head, sep, tail = rest.rpartition(":")
    if sep and "/" not in tail:
        if not TAG_RE.match(tail):
            raise SpecError(f"not a valid tag: {tail!r}", where=s)
        rest, tag = head, tail
    if not rest:
        raise SpecError(f"missing layout path; {USAGE}", where=s)
    path = rest if rest in {"/", "."} else rest.rstrip("/") or "/"
    return Ref(kind="layout", path=path, tag=tag, digest=digest)


def layout_ref(path: str | os.PathLike, tag: str | None = None) -> Ref:
    """A layout reference for ``path`` (e.g. ``Settings().oci_layout``) and an optional tag."""
    p = str(Path(path))
    ref = Ref(kind="layout", path=p)
    return ref.with_tag(tag) if tag else ref
