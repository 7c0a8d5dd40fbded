"""The release flow: build → test → policy → sign → publish (→ commit → approval → reconcile → verify).

Run it with ``wasmops release MODULE_DIR`` or from the Prefect UI (deployment ``release``).
"""

from __future__ import annotations

from prefect import flow

from tasks.supply import build_module, policy_check, publish_module, sign_module, test_module


def artifact_ref(registry: str, name: str, tag: str) -> str:
    """``oci-layout://PATH`` → ``oci-layout://PATH:name-tag``; ``oci://HOST/NS`` → ``oci://HOST/NS/name:tag``."""
    if registry.startswith("oci-layout://"):
        return f"{registry}:{name}-{tag}"
    return f"{registry.rstrip('/')}/{name}:{tag}"


@flow(name="release", log_prints=True)
def release(module_dir: str, registry: str | None = None, trust_level: str = "sandboxed",
            source: str = "", revision: str = "") -> dict:
    from wasmops.config import Settings

    s = Settings()
    registry = registry or f"oci-layout://{s.oci_layout}"
    built = build_module(module_dir)
    test_module(module_dir, built)
    policy_check(built, trust_level)
    sig = sign_module(built)
    tag = built.digest.split(":")[1][:12]
    pub = publish_module(built, artifact_ref(registry, built.name, tag), sig["bundle_path"],
                         source=source, revision=revision)
    print(f"released {built.name} {built.digest} as {pub['ref']} ({pub['manifest_digest']})")
    return {"module": built.name, "wasm_digest": built.digest, **sig, **pub}
