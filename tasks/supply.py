"""Supply-chain tasks: build, test, policy, sign, publish."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect import task
from prefect.artifacts import create_table_artifact, create_markdown_artifact

from wasmops.config import Settings
from wasmops.digests import source_digest

from ._common import RETRY


@dataclass
class Built:
    name: str
    path: str
    digest: str          # sha256:... of the .wasm
    source_digest: str
    toolchain: str
    module_dir: str = ""


def _build_key(context, params) -> str:
    # The output lives in this workspace, so the workspace is part of the key.
    return f"build-{source_digest(params['module_dir'])}-{Settings().home}"


def wasm_path(built: Built) -> Path:
    """The built module's path; rebuilt (from the builder's content cache) if the file went away.

    A cached build result outlives its output file when someone cleans the workspace, so every
    consumer goes through here and checks the digest it gets back.
    """
    p = Path(built.path)
    if p.exists():
        return p
    from wasmops.build import build
    from wasmops.errors import IntegrityError
    from wasmops.source import load_module_source

    res = build(load_module_source(built.module_dir), p, settings=Settings())
    if "sha256:" + res.sha256 != built.digest:
        raise IntegrityError(f"rebuild gave sha256:{res.sha256}, expected {built.digest}", where=built.module_dir)
    return p


@task(name="build", cache_key_fn=_build_key, persist_result=True, **RETRY)
def build_module(module_dir: str) -> Built:
    from wasmops.build import build
    from wasmops.source import load_module_source

    s = Settings()
    src = load_module_source(module_dir)
    sd = source_digest(module_dir)
    out = s.home / "artifacts" / sd.split(":")[1][:32] / f"{src.name}.wasm"
    res = build(src, out, settings=s)
    return Built(name=src.name, path=str(res.path), digest="sha256:" + res.sha256, source_digest=sd,
                 toolchain=res.toolchain, module_dir=str(module_dir))


def _digest_key(prefix):
    def key(context, params) -> str:
        built = params["built"]
        extra = {k: v for k, v in params.items() if k != "built"}
        return f"{prefix}-{built.digest}-{sorted(extra.items())}"
    return key


@task(name="test", cache_key_fn=_digest_key("test"), persist_result=True, **RETRY)
def test_module(module_dir: str, built: Built) -> dict:
    from wasmops.errors import TestFailed
    from wasmops.source import load_module_source
    from wasmops.testrun import run_cases

    src = load_module_source(module_dir)
    report = run_cases(src, wasm_path(built).read_bytes(), digest=built.digest)
    create_table_artifact(key=f"{src.name}-tests", table=report.rows(),
                          description=f"Test cases of {src.name} at {built.digest[:19]}")
    if not report.passed:
        names = ", ".join(f"{c.name} ({c.reason})" for c in report.failed) or "no test cases"
        raise TestFailed(f"test cases failed: {names}", where=src.name)
    return report.to_dict()


def _policy_key(context, params) -> str:
    """The verdict depends on the module, the trust level, the memory limit and the policy's content."""
    from wasmops.policy import policy_digest

    return (f"policy-{params['built'].digest}-{params['trust_level']}-{params.get('memory_limit')}"
            f"-{params.get('timeout_ms')}-{params.get('fuel')}-{policy_digest(params.get('policy_file'))}")


@task(name="policy", cache_key_fn=_policy_key, persist_result=True, **RETRY)
def policy_check(built: Built, trust_level: str, policy_file: str | None = None,
                 memory_limit: int | None = None, timeout_ms: int | None = None, fuel: int | None = None) -> dict:
    """Check the module against the ModulePolicy in ``policy_file`` (the release passes the one in
    Git, the same file host admission follows)."""
    from wasmops.policy import check_module, load_policy

    policy = load_policy(policy_file)
    v = check_module(wasm_path(built).read_bytes(), trust_level, policy, memory_limit=memory_limit,
                     timeout_ms=timeout_ms, fuel=fuel)
    lines = [f"**{'allowed' if v.allowed else 'denied'}** `{built.name}` at trust level `{trust_level}`"
             f" under `{policy.source}`"]
    lines += [f"- {r}" for r in v.reasons] or ["- no findings"]
    lines.append(f"\nimports: {', '.join(v.facts['imports']) or 'none'}")
    create_markdown_artifact(key=f"{built.name}-policy", markdown="\n".join(lines),
                             description="Policy verdict")
    v.raise_if_denied(where=built.name)
    return {"allowed": v.allowed, "trust_level": trust_level, "facts": v.facts, "policy": v.policy}


def _sign_key(context, params) -> str:
    """A signature is only reusable by the same signer: the key id is part of the cache key."""
    from wasmops.signing import key_id

    s = Settings()
    pub = Path(params["key_path"]).with_suffix(".pub") if params.get("key_path") else s.public_key
    signer = key_id(pub.read_bytes()) if pub.exists() else s.key_backend
    return f"sign-{params['built'].digest}-{signer}"


@task(name="sign", cache_key_fn=_sign_key, persist_result=True, **RETRY)
def sign_module(built: Built, key_path: str | None = None) -> dict:
    from wasmops.signing import bundle_digest, sign_file

    s = Settings()
    bundle = sign_file(wasm_path(built), private_key_path=Path(key_path) if key_path else s.private_key,
                       backend=s.key_backend)
    return {"bundle_path": str(bundle), "bundle_digest": bundle_digest(Path(bundle).read_bytes())}


@task(name="publish", cache_key_fn=_digest_key("publish"), persist_result=True, **RETRY)
def publish_module(built: Built, ref: str, bundle_path: str, source: str = "", revision: str = "") -> dict:
    from wasmops.oci import publish

    ann = {k: v for k, v in {"org.opencontainers.image.source": source,
                             "org.opencontainers.image.revision": revision}.items() if v}
    res = publish(wasm_path(built), ref, bundle_path=Path(bundle_path), annotations=ann,
                  timeout_s=Settings().registry_timeout_s)
    create_markdown_artifact(
        key=f"{built.name}-artifact",
        markdown=f"**{built.name}** published\n\n| | |\n|---|---|\n| ref | `{ref}` |\n"
                 f"| manifest digest | `{res.manifest_digest}` |\n| wasm digest | `{built.digest}` |\n"
                 f"| signature manifest | `{res.bundle_manifest_digest}` |",
        description="Signature and digest")
    return {"ref": ref, "manifest_digest": res.manifest_digest, "layer_digest": res.layer_digest,
            "bundle_manifest_digest": res.bundle_manifest_digest}
