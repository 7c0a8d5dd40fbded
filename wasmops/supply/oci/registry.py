"""The registry store: an OCI distribution registry, spoken to through oras-py.

Example (needs a registry on 127.0.0.1:5000 holding ``wasmops/hello:v1``)::

    >>> from wasmops.supply.oci.registry import RegistryStore
    >>> from wasmops.supply.oci.refs import parse_ref
    >>> with RegistryStore(parse_ref("oci://127.0.0.1:5000/wasmops/hello:v1"), timeout_s=1) as s:  # doctest: +SKIP
    ...     data, media_type, digest = s.get_manifest("v1")   # the exact bytes, their type and digest
    ...     print(media_type, s.tags())
    application/vnd.oci.image.manifest.v1+json ['v1']

How oras-py (0.2.43) is used, and where it is worked around:

* ``oras.provider.Registry`` is the client: its requests session, auth backends, ``Container`` URL
  building, ``upload_blob`` (HEAD for existing, then POST + PUT), ``get_blob`` and ``do_request``.
* ``do_request`` is wrapped by oras-py's ``@retry``, which sleeps 2+3**n s five times (about 131 s)
  on any error and has no overall timeout. ``_OrasClient.do_request`` calls the undecorated
  function (``__wrapped__``) and retries connection errors and 502/503/504 itself with a bounded
  exponential back-off that gives up after ``timeout_s`` with ``RegistryUnavailable``. Every HTTP
  request also carries a socket timeout (an ``HTTPAdapter`` default), which requests lacks.
* Before the first call, ``GET /v2/`` is probed with the same bounded back-off, so a registry that
  is down fails fast with a message naming it.
* Manifests are PUT as the exact bytes wasmops built (``upload_manifest`` re-serialises a dict with
  ``json=``, which would change the digest) and fetched raw (``get_manifest`` returns parsed JSON
  and verifies nothing). Both go through the client's ``do_request``; the manifest is first
  validated with oras-py's own manifest JSON schema.
* Credentials come from ``WASMOPS_REGISTRY_USER`` / ``WASMOPS_REGISTRY_PASSWORD``. With them the
  ``basic`` backend is used and ``session.auth`` is set up front: otherwise oras-py sends each
  request unauthenticated first and repeats it (with its body) after the 401. Without them the
  ``token`` backend is used, which handles anonymous bearer tokens of public registries.
* 127.0.0.1 / localhost / [::1] use plain HTTP (see ``Ref.insecure``).
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import jsonschema
import oras.container
import oras.provider
import oras.schemas
import requests
from requests.adapters import HTTPAdapter

from wasmops.errors import ConfigError, IntegrityError, NotFound, RegistryUnavailable, SpecError, WasmopsError
from wasmops.digests import sha256_bytes
from wasmops.supply.oci.refs import DIGEST_RE, Ref
from wasmops.supply.oci.store import (
    CHUNK,
    INDEX,
    MANIFEST,
    MANIFEST_TYPES,
    MAX_MANIFEST_BYTES,
    parse_json_doc,
    verify_manifest,
)

ENV_USER = "WASMOPS_REGISTRY_USER"
ENV_PASSWORD = "WASMOPS_REGISTRY_PASSWORD"
_RETRY_STATUS = {502, 503, 504}
_UNWRAPPED_DO_REQUEST = getattr(oras.provider.Registry.do_request, "__wrapped__", oras.provider.Registry.do_request)


def _reason(exc: Exception) -> str:
    """A short cause for a requests error: "connection refused", "timed out", ..."""
    m = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
    if m:
        return m.group(1).strip().lower()
    if isinstance(exc, requests.Timeout):
        return "timed out"
    return f"{type(exc).__name__}: {str(exc)[:160]}"


class _TimeoutAdapter(HTTPAdapter):
    """An adapter that gives every request a (connect, read) timeout unless one is passed."""

    def __init__(self, timeout: tuple[float, float]):
        super().__init__(max_retries=0)
        self._timeout = timeout

    def send(self, request, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, **kwargs)


class _Backoff:
    """Exponential delays (50 ms doubling, at most 2 s) that together stay within ``total_s``."""

    def __init__(self, total_s: float):
        self.deadline = time.monotonic() + max(total_s, 0.0)
        self.delay = 0.05

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def wait(self) -> bool:
        """Sleep before the next attempt; False when the time is up."""
        left = self.remaining()
        if left <= 0:
            return False
        time.sleep(min(self.delay, left))
        self.delay = min(self.delay * 2, 2.0)
        return True


def _credentials() -> tuple[str | None, str | None]:
    """(user, password) from settings (``WASMOPS_REGISTRY_USER`` / ``WASMOPS_REGISTRY_PASSWORD``)."""
    from wasmops.config import current

    s = current()
    return s.registry_user, (s.registry_password.get_secret_value() if s.registry_password else None)


class _OrasClient(oras.provider.Registry):
    """oras-py's Registry with a bounded retry, socket timeouts and up-front basic auth."""

    def __init__(self, host: str, *, insecure: bool, timeout_s: float, where: str):
        user, password = _credentials()
        super().__init__(hostname=host, insecure=insecure, auth_backend="basic" if user else "token")
        self.timeout_s = timeout_s
        self.where = where
        adapter = _TimeoutAdapter((min(max(timeout_s, 0.1), 10.0), max(timeout_s, 60.0)))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        if user:
            self.session.auth = (user, password or "")
            self.auth.set_basic_auth(user, password or "")

    def _auth_error(self, detail: str) -> ConfigError:
        user = _credentials()[0]
        what = f"refused the credentials of user {user!r}" if user else "requires credentials"
        return ConfigError(
            f"registry {self.hostname} {what}; set {ENV_USER} and {ENV_PASSWORD} ({detail})",
            where=self.where,
            hint="check the registry account; retrying will not help",
        )

    def _unavailable(self, url: str, last: object) -> RegistryUnavailable:
        return RegistryUnavailable(
            f"registry {self.hostname} did not answer {url} within {self.timeout_s:g} s (last error: {last})",
            where=self.where,
            hint=f"start the registry at {self.prefix}://{self.hostname} or check the reference; retrying may help",
        )

    def probe(self) -> None:
        """GET /v2/ until the registry answers (200, or 401 when it wants credentials)."""
        url = f"{self.prefix}://{self.hostname}/v2/"
        backoff = _Backoff(self.timeout_s)
        while True:
            timeout = max(min(backoff.remaining(), 5.0), 0.05)
            try:
                r = self.session.get(url, timeout=(timeout, timeout))
            except (requests.ConnectionError, requests.Timeout) as exc:
                last: object = _reason(exc)
            else:
                if r.status_code in (200, 401):
                    return
                if r.status_code not in _RETRY_STATUS:
                    raise ConfigError(
                        f"{url} answered HTTP {r.status_code}: not an OCI distribution registry?",
                        where=self.where,
                    )
                last = f"HTTP {r.status_code}"
            if not backoff.wait():
                raise self._unavailable(url, last)

    def do_request(self, url, method="GET", data=None, headers=None, json=None, stream=False):
        """oras-py's request (auth handling included) without its 131 s retry; bounded instead."""
        backoff = _Backoff(self.timeout_s)
        while True:
            try:
                response = _UNWRAPPED_DO_REQUEST(self, url, method, data, dict(headers or {}), json, stream)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last: object = _reason(exc)
            except ValueError as exc:  # oras-py could not answer the 401 (no usable credentials)
                raise self._auth_error(str(exc)) from exc
            else:
                if response.status_code not in _RETRY_STATUS:
                    return response
                last = f"HTTP {response.status_code}"
                response.close()
            if not backoff.wait():
                raise self._unavailable(url, last)


def _error_text(r: requests.Response) -> str:
    try:
        errors = r.json().get("errors") or []
        return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict)) or r.reason
    except ValueError:
        return r.reason or f"HTTP {r.status_code}"


class RegistryStore:
    """A repository in an OCI registry implementing ``wasmops.supply.oci.store.Store``."""

    def __init__(self, ref: Ref, *, timeout_s: float = 30.0):
        if ref.kind != "registry" or not ref.host or not ref.repo:
            raise SpecError("not an oci:// registry reference", where=str(ref))
        self.ref = ref
        self._where = ref.location
        self.client = _OrasClient(ref.host, insecure=ref.insecure, timeout_s=timeout_s, where=self._where)
        container = oras.container.Container(f"{ref.host}/{ref.repo}")
        # oras-py guesses the registry from dots/colons in the first path part; set the parts we know.
        container.registry = ref.host
        namespace, _, name = ref.repo.rpartition("/")
        container.namespace, container.repository = namespace or None, name
        self.container = container
        self._base = f"{self.client.prefix}://{ref.host}/v2/{ref.repo}"
        try:
            self.client.probe()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> RegistryStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.client.session.close()

    def _fail(self, r: requests.Response, what: str, where: str) -> WasmopsError:
        text = _error_text(r)
        if r.status_code == 404:
            return NotFound(f"{what} not found ({text})", where=where)
        if r.status_code in (401, 403):
            return self.client._auth_error(f"{what}: HTTP {r.status_code} {text}")
        if 400 <= r.status_code < 500:
            return SpecError(f"{what}: registry rejected it: HTTP {r.status_code} {text}", where=where)
        return WasmopsError(f"{what}: HTTP {r.status_code} {text}", where=where)

    # -- Store ----------------------------------------------------------------------------------

    def get_manifest(self, reference: str) -> tuple[bytes, str, str]:
        sep = "@" if DIGEST_RE.match(reference) else ":"
        where = f"{self._where}{sep}{reference}"
        r = self.client.do_request(
            f"{self._base}/manifests/{reference}", "GET", headers={"Accept": ", ".join(MANIFEST_TYPES)}
        )
        if r.status_code != 200:
            raise self._fail(r, "manifest", where)
        data = r.content
        if len(data) > MAX_MANIFEST_BYTES:
            raise IntegrityError(f"manifest is {len(data)} bytes, larger than the 4 MiB limit", where=where)
        header = r.headers.get("Docker-Content-Digest")
        expected = header if header and DIGEST_RE.match(header) else None
        digest = verify_manifest(data, reference, where, expected=expected)
        media_type = r.headers.get("Content-Type", "").split(";", 1)[0].strip()
        return data, media_type, digest

    def put_manifest(self, data: bytes, media_type: str, *, tag: str | None = None) -> str:
        digest = sha256_bytes(data)
        if media_type == MANIFEST:
            try:
                jsonschema.validate(parse_json_doc(data, "manifest"), schema=oras.schemas.manifest)
            except jsonschema.ValidationError as exc:
                raise SpecError(f"manifest fails oras-py's schema: {exc.message}", where=str(self.ref)) from exc
        elif media_type != INDEX:
            raise SpecError(f"unsupported manifest media type {media_type!r}", where=str(self.ref))
        reference = tag or digest
        where = f"{self._where}:{tag}" if tag else f"{self._where}@{digest}"
        r = self.client.do_request(
            f"{self._base}/manifests/{reference}", "PUT", data=data, headers={"Content-Type": media_type}
        )
        if r.status_code not in (200, 201):
            raise self._fail(r, "manifest upload", where)
        returned = r.headers.get("Docker-Content-Digest")
        if returned and returned != digest:
            raise IntegrityError(f"registry stored the manifest as {returned}, expected {digest}", where=where)
        return digest

    def has_blob(self, digest: str) -> bool:
        return self.client.blob_exists({"digest": digest}, self.container)

    def put_blob(self, source: Path | bytes, digest: str, size: int) -> None:
        layer = {"mediaType": "application/octet-stream", "digest": digest, "size": size}
        where = f"{self._where}@{digest}"
        try:
            if isinstance(source, (bytes, bytearray)):
                with tempfile.TemporaryDirectory(prefix="wasmops-blob-") as tmp:
                    path = Path(tmp) / "blob"
                    path.write_bytes(source)
                    r = self.client.upload_blob(str(path), self.container, layer)
            else:
                r = self.client.upload_blob(str(source), self.container, layer)
        except ValueError as exc:  # oras-py: the registry gave no upload session (read-only, denied)
            raise ConfigError(f"registry refused the blob upload: {exc}", where=where) from exc
        if r.status_code not in (200, 201, 202):
            if r.status_code == 400 and "DIGEST_INVALID" in (r.text or ""):
                raise IntegrityError(f"registry says the uploaded blob does not match {digest}", where=where)
            raise self._fail(r, "blob upload", where)

    @contextmanager
    def open_blob(self, digest: str) -> Iterator[Iterator[bytes]]:
        r = self.client.get_blob(self.container, digest, stream=True)
        try:
            if r.status_code != 200:
                raise self._fail(r, f"blob {digest}", f"{self._where}@{digest}")
            try:
                yield r.iter_content(chunk_size=CHUNK)
            except requests.RequestException as exc:
                raise RegistryUnavailable(
                    f"connection lost while reading blob {digest}: {exc}", where=self._where
                ) from exc
        finally:
            r.close()

    def referrers_api(self, digest: str) -> list[dict] | None:
        """``GET /v2/<repo>/referrers/<digest>``; None when the registry lacks the API (a 404 etc.)."""
        r = self.client.do_request(f"{self._base}/referrers/{digest}", "GET", headers={"Accept": INDEX})
        if r.status_code != 200:
            return None
        try:
            manifests = r.json().get("manifests")
        except (ValueError, AttributeError):
            return None
        return manifests if isinstance(manifests, list) else None

    def tags(self) -> list[str]:
        """Tags of the repository (oras-py ``get_tags``)."""
        return list(self.client.get_tags(self.container))
