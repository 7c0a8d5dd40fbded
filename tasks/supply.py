"""Supply-chain tasks: build, test, policy, sign, publish.

Each takes the parsed ``ModuleSource`` (read once by the flow) and the records of the steps before
it, and returns its own record (``wasmops.release.steps``). Cache keys are content digests, so a
re-run after a crash reuses every finished step.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from wasmops.config import current
from wasmops.digests import hex_of, shown
from wasmops.supply.source import source_digest
from wasmops.release.steps import Built, PolicyChecked, Published, Signed, Tested
from wasmops.supply.source import ModuleSource

from ._common import RETRY

__all__ = ["Built", "build_module", "policy_check", "publish_module", "sign_module", "test_module", "wasm_path"]


def cache_key(step: str, *parts) -> str:
    """``step-`` and a hash of ``parts``. Prefect stores a cached result under its key as a path, so a
    key spelled from refs and paths (``/``, ``..``) folded different inputs into one file: the same
    module released to a second target read the first target's cached publish, and its reconcile
    was refused (the digest was published to the other repository)."""
    return f"{step}-{hashlib.sha256(chr(0).join(map(str, parts)).encode()).hexdigest()[:40]}"


def _build_key(context, params) -> str:
    # The output lives in this workspace, so the workspace is part of the key.
    return cache_key("build", source_digest(params["src"]), current().home)


def wasm_path(built: Built, src: ModuleSource | None = None) -> Path:
    """The built module's path; rebuilt (from the builder's content cache) if the file went away.

    A cached build result outlives its output file when someone cleans the workspace, so every
    consumer goes through here and checks the digest it gets back.
    """
    p = Path(built.path)
    if p.exists():
        return p
    from wasmops.supply.build import build
    from wasmops.errors import IntegrityError
    from wasmops.supply.source import load_module_source

    res = build(src or load_module_source(built.module_dir), p, settings=current())
    if res.digest != built.wasm_digest:
        raise IntegrityError(f"rebuild gave {res.digest}, expected {built.wasm_digest}", where=built.module_dir)
    return p


@task(name="build", cache_key_fn=_build_key, persist_result=True, **RETRY)
def build_module(src: ModuleSource) -> Built:
    from wasmops.supply.build import build

    s = current()
    sd = source_digest(src)
    out = s.paths.artifacts / hex_of(sd)[:32] / f"{src.name}.wasm"
    res = build(src, out, settings=s)
    return Built(name=src.name, path=str(res.path), wasm_digest=res.digest, source_digest=sd,
                 toolchain=res.toolchain, module_dir=str(src.root))


def _test_key(context, params) -> str:
    # the test cases live in module.yaml, which the source digest covers; the limits may be the target's
    limits = sorted((params.get("limits") or {}).items())
    return cache_key("test", params["built"].wasm_digest, params["built"].source_digest, limits)


@task(name="test", cache_key_fn=_test_key, persist_result=True, **RETRY)
def test_module(src: ModuleSource, built: Built, limits: dict | None = None, where: str = "") -> Tested:
    """The module's test cases in the sandbox; with ``limits`` (a deployment's ``host_limits()``, in the
    manifest ``where``) instead of module.yaml's, as the release's verify will run them through the host:
    a case that needs more fuel than the target allows fails here, before anything is committed."""
    from wasmops.errors import TestFailed
    from wasmops.supply.testrun import run_cases
    from wasmops.wasm.sandbox import cached_sandbox

    run_src = src if not limits else src.model_copy(update={"limits": src.limits.model_copy(update=limits)})
    report = run_cases(run_src, wasm_path(built, src).read_bytes(), digest=built.wasm_digest,
                       sandbox=cached_sandbox(current().test_compile_cache), progress=_log_info)
    create_table_artifact(key=f"{src.name}-tests", table=report.rows(),
                          description=f"Test cases of {src.name} at {shown('wasm', built.wasm_digest)}")
    if not report.passed:
        names = ", ".join(f"{c.name} ({c.reason})" for c in report.failed) or "no test cases"
        raise TestFailed(f"test cases failed: {names}", where=src.name, hint=_limits_hint(src, limits, where))
    return Tested(wasm_digest=built.wasm_digest, report=report.to_dict())


def _log_info(message: str) -> None:
    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        get_run_logger().info(message, extra={"terminal": True})   # shown by the CLI's progress
    except MissingContextError:       # called outside a run (``test_module.fn`` in a test)
        pass


def _limits_hint(src: ModuleSource, limits: dict | None, where: str) -> str | None:
    """Name the deployment's limits when they, not module.yaml's, are what the cases ran under, and the
    manifest lines that would give the module what module.yaml asks for."""
    if not limits:
        return None
    mine = {"fuel": src.limits.fuel, "memory": src.limits.memory_bytes, "timeout_ms": src.limits.timeout_ms,
            "max_stdout": src.limits.max_stdout_bytes}
    differ = [f"{k} {limits[k]} (module.yaml: {mine[k]})" for k in mine if k in limits and limits[k] != mine[k]]
    if not differ:
        return None
    field = {"fuel": ("resources.cpu", f"{max(1, -(-src.limits.fuel // 1_000_000))}m"),
             "memory": ("resources.memory", str(src.limits.memory)), "timeout_ms": ("timeoutMs", src.limits.timeout_ms),
             "max_stdout": ("maxStdout", str(src.limits.max_stdout))}
    more = [f"{field[k][0]}: {field[k][1]}" for k in mine if k in limits and limits[k] < mine[k]]
    fix = (f"to run them as module.yaml says, set spec.runtimeConfig {', '.join(more)} in {where or 'its manifest'} "
           "and commit it there" if more else
           "raise them there (resources.cpu is fuel / 10^6, resources.memory, timeoutMs, maxStdout)")
    return (f"the cases ran under the deployment's limits, as the host will run them ({where or 'its manifest'}: "
            f"{', '.join(differ)}); {fix}, or make the module fit")


def _policy_key(context, params) -> str:
    """The verdict depends on the module, the trust level, the memory limit and the policy's content."""
    from wasmops.supply.policy import policy_digest

    return cache_key("policy", params["built"].wasm_digest, params["trust_level"], params.get("memory_limit"),
                     params.get("timeout_ms"), params.get("fuel"), params.get("max_stdout"),
                     policy_digest(params.get("policy_file")))


@task(name="policy", cache_key_fn=_policy_key, persist_result=True, **RETRY)
def policy_check(built: Built, trust_level: str, policy_file: str | None = None,
                 memory_limit: int | None = None, timeout_ms: int | None = None,
                 fuel: int | None = None, max_stdout: int | None = None) -> PolicyChecked:
    """Check the module against the ModulePolicy in ``policy_file`` (the release passes the one in
    Git, the same file host admission follows)."""
    from wasmops.supply.policy import check_module, load_policy

    policy = load_policy(policy_file)
    v = check_module(wasm_path(built).read_bytes(), trust_level, policy, memory_limit=memory_limit,
                     timeout_ms=timeout_ms, fuel=fuel, max_stdout=max_stdout)
    lines = [f"**{'allowed' if v.allowed else 'denied'}** `{built.name}` at trust level `{trust_level}`"
             f" under `{policy.source}`"]
    lines += [f"- {r}" for r in v.reasons] or ["- no findings"]
    lines.append(f"\nimports: {', '.join(v.facts['imports']) or 'none'}")
    create_markdown_artifact(key=f"{built.name}-policy", markdown="\n".join(lines),
                             description="Policy verdict")
    v.raise_if_denied(where=built.name)
    return PolicyChecked(wasm_digest=built.wasm_digest, trust_level=trust_level, facts=v.facts, policy=v.policy)


def _sign_key(context, params) -> str:
    """A signature is only reusable by the same signer: the key id is part of the cache key."""
    from wasmops.supply.signing import key_id

    s = current()
    pub = Path(params["key_path"]).with_suffix(".pub") if params.get("key_path") else s.public_key
    signer = key_id(pub.read_bytes()) if pub.exists() else s.key_backend
    return cache_key("sign", params["built"].wasm_digest, signer)


@task(name="sign", cache_key_fn=_sign_key, persist_result=True, **RETRY)
def sign_module(built: Built, key_path: str | None = None) -> Signed:
    from wasmops.supply.signing import bundle_digest, sign_file

    s = current()
    bundle = sign_file(wasm_path(built), private_key_path=Path(key_path) if key_path else s.private_key,
                       backend=s.key_backend)
    return Signed(wasm_digest=built.wasm_digest, bundle_path=str(bundle),
                  bundle_digest=bundle_digest(Path(bundle).read_bytes()))


def _publish_key(context, params) -> str:
    p = params
    return cache_key("publish", p["built"].wasm_digest, p["ref"], p["signed"].bundle_digest, p.get("source", ""),
                     p.get("revision", ""))


@task(name="publish", cache_key_fn=_publish_key, persist_result=True, **RETRY)
def publish_module(built: Built, signed: Signed, ref: str, source: str = "", revision: str = "") -> Published:
    from wasmops.supply.oci import publish

    ann = {k: v for k, v in {"org.opencontainers.image.source": source,
                             "org.opencontainers.image.revision": revision}.items() if v}
    res = publish(wasm_path(built), ref, bundle_path=Path(signed.bundle_path), annotations=ann,
                  timeout_s=current().registry_timeout_s)
    create_markdown_artifact(
        key=f"{built.name}-artifact",
        markdown=f"**{built.name}** published\n\n| | |\n|---|---|\n| ref | `{ref}` |\n"
                 f"| manifest digest | `{res.manifest_digest}` |\n| wasm digest | `{built.wasm_digest}` |\n"
                 f"| signature manifest | `{res.bundle_manifest_digest}` |",
        description="Signature and digest")
    return Published(ref=ref, manifest_digest=res.manifest_digest, wasm_digest=built.wasm_digest,
                     layer_digest=res.layer_digest, bundle_manifest_digest=res.bundle_manifest_digest or "")
