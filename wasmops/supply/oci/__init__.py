"""OCI store for Wasm modules: an image-layout directory (embedded) or a registry (oras-py).

Example::

    >>> import tempfile, pathlib, wasmtime
    >>> from wasmops.supply import oci
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "m.wasm").write_bytes(wasmtime.wat2wasm('(module (func (export "_start")))'))
    >>> res = oci.publish(d / "m.wasm", f"oci-layout://{d}/oci:v1")
    >>> oci.pull(f"oci-layout://{d}/oci:v1", d / "copy.wasm").layer_digest == res.layer_digest
    True
    >>> oci.fetch_signature(res.ref) is None
    True

References (``parse_ref``)::

    oci://HOST[:PORT]/REPO[:TAG][@sha256:...]     registry, through oras-py (HTTP on loopback)
    oci-layout://PATH[:TAG][@sha256:...]          OCI image-layout directory

Public API:

* ``parse_ref(s) -> Ref``; ``open_store(ref, timeout_s=30) -> Store`` (``LayoutStore`` or
  ``RegistryStore``; both implement the ``Store`` protocol).
* ``publish(wasm_path, ref, bundle_path=None, annotations=None) -> PublishResult``.
* ``pull(ref, out_path) -> PullResult``; ``resolve(ref) -> "sha256:..."``.
* ``fetch_signature(ref) -> bytes | None`` (the attached Sigstore bundle).

Errors (``wasmops.errors``): ``SpecError`` for bad references and non-Wasm artifacts, ``NotFound``
for a missing layout, tag, manifest or blob, ``IntegrityError`` for any digest or size mismatch,
``RegistryUnavailable`` (retryable) when a registry does not answer within ``timeout_s``, and
``ConfigError`` for missing input files or refused credentials.
"""

from wasmops.supply.oci.artifact import PublishResult, PullResult, fetch_signature, open_store, publish, pull, resolve
from wasmops.supply.oci.layout import LayoutStore, init_layout
from wasmops.supply.oci.refs import Ref, layout_ref, parse_ref
from wasmops.supply.oci.store import SIGSTORE_BUNDLE, WASM_CONFIG, WASM_LAYER, Store


def __getattr__(name: str):
    if name == "RegistryStore":  # imported lazily: oras-py is only needed for oci:// references
        from wasmops.supply.oci.registry import RegistryStore

        return RegistryStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "init_layout",
    "LayoutStore",
    "PublishResult",
    "PullResult",
    "Ref",
    "RegistryStore",
    "SIGSTORE_BUNDLE",
    "Store",
    "WASM_CONFIG",
    "WASM_LAYER",
    "fetch_signature",
    "layout_ref",
    "open_store",
    "parse_ref",
    "publish",
    "pull",
    "resolve",
]
