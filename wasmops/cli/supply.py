"""Supply-chain commands: init, build, test, check, sign, verify, publish, pull."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import app
from ._ui import console, err_console, settings, table


@app.command()
def init(force: bool = typer.Option(False, help="Replace an existing signing key.")) -> None:
    """Create the workspace: OCI layout, a signing key pair, trusted keys and the GitOps repo."""
    from ..workspace import init_workspace

    s = settings()
    info = init_workspace(s, force=force, progress=lambda m: err_console().print(f"[dim]{m}[/]"))
    console().print(f"workspace ready at [bold]{s.home}[/]")
    for k, v in info.items():
        console().print(f"  {k}: {v}")


@app.command()
def build(
    module_dir: Path = typer.Argument(..., help="Module directory with a module.yaml."),
    out: Path = typer.Option(..., "-o", "--out", help="Where to write the .wasm."),
) -> None:
    """Build a module from source into a .wasm (reproducibly)."""
    from wasmops.supply.build import build as do_build
    from ..digests import shown
    from wasmops.supply.source import load_module_source

    src = load_module_source(module_dir)
    res = do_build(src, out, settings=_for_builds(), progress=lambda m: err_console().print(f"[dim]{m}[/]"))
    console().print(f"built {res.path} {shown('wasm', res.digest)} ({res.size} bytes, {res.toolchain}, "
                    f"{res.duration_s:.2f}s{', cached' if res.cached else ''})", highlight=False)


def _for_builds():
    """The settings a build runs with: the workspace's; where there is none (`wasmops test DIR` before
    any `init`), finished builds are cached under the user's cache directory, never in a ./.wasmops
    made on the way (the next command would take it for a workspace)."""
    from ..config import user_cache
    from ..workspace import exists

    s = settings()
    return s if exists(s) else s.model_copy(update={"home": user_cache() / "no-workspace"})


@app.command("test")
def test_cmd(
    module_dir: Path = typer.Argument(..., help="Module directory with a module.yaml."),
    wasm: Optional[Path] = typer.Option(None, "--wasm", help="Test this .wasm instead of building."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Run the module's test cases in the wasmtime sandbox. Exit 0 only if all pass."""
    import json
    import tempfile

    from wasmops.supply.source import load_module_source
    from wasmops.supply.testrun import args_note, run_cases

    src = load_module_source(module_dir)
    if wasm is None:
        from wasmops.supply.build import build as do_build

        with tempfile.TemporaryDirectory() as td:
            res = do_build(src, Path(td) / f"{src.name}.wasm", settings=_for_builds())
            data = res.path.read_bytes()
    else:
        data = wasm.read_bytes()
    from wasmops.wasm.sandbox import cached_sandbox

    report = run_cases(src, data, sandbox=cached_sandbox(_for_builds().test_compile_cache),
                       progress=lambda m: err_console().print(f"[dim]{m}[/]"))
    if json_out:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        console().print(table(f"{src.name}: {len(report.cases)} cases", report.rows()))
        if not report.cases:
            console().print("[yellow]no test cases in module.yaml[/]")
        if (note := args_note(src)) is not None:
            from rich.markup import escape

            err_console().print(f"[yellow]note:[/] {escape(note)}")
    raise typer.Exit(0 if report.passed else 1)


@app.command()
def check(
    wasm: Path = typer.Argument(..., help="The .wasm to inspect."),
    trust_level: str = typer.Option("sandboxed", "--trust-level", help="sandboxed | standard | trusted"),
    policy: Optional[Path] = typer.Option(None, "--policy", help="ModulePolicy YAML (default: the workspace's)."),
) -> None:
    """Check a module's imports, exports, size and memory against the policy. Exit 1 if denied."""
    from ..errors import SpecError
    from wasmops.supply.policy import check_module, load_policy
    from ..workspace import policy_path

    if not wasm.exists():
        raise SpecError("file not found", where=str(wasm))
    pol = load_policy(policy or policy_path(settings()))
    v = check_module(wasm.read_bytes(), trust_level, pol, where=str(wasm))
    from rich.markup import escape

    mem = v.facts["initial_memory"]
    if v.allowed:
        kind = "a WASI 0.2 command component, " if v.facts.get("component") else ""
        console().print(f"[green]allowed[/] {escape(str(wasm))} at trust level {trust_level} "
                        f"({kind}{len(v.facts['imports'])} imports, {v.facts['size']} bytes, initial memory "
                        f"{mem / 2**20:.3g} MiB: its limits.memory must be at least that)")
        if v.facts.get("component"):
            console().print(f"  imports: {escape(', '.join(v.facts['imports']))}")
        return
    console().print(f"[red]denied[/] {escape(str(wasm))} at trust level {trust_level}:")
    for r in v.reasons:
        console().print(f"  - {escape(r)}")
    if v.hint:
        console().print(f"hint: {escape(v.hint)}")
    raise typer.Exit(1)


@app.command()
def sign(
    wasm: Path = typer.Argument(..., help="The file to sign."),
    backend: str = typer.Option("auto", help="auto | offline | keyless"),
    key: Optional[Path] = typer.Option(None, help="Private key (default: the workspace's)."),
) -> None:
    """Sign a file; writes FILE.sigstore.json (a Sigstore bundle v0.3)."""
    from ..errors import ConfigError, SpecError
    from wasmops.supply.signing import sign_file

    s = settings()
    if not wasm.exists():
        raise SpecError("file not found", where=str(wasm))
    key = key or s.private_key
    if backend != "keyless" and not key.exists():
        raise ConfigError("no signing key", where=str(key), hint="run `wasmops init` first")
    bundle = sign_file(wasm, private_key_path=key, backend=backend)
    console().print(f"signed {wasm} → {bundle}")


@app.command()
def verify(
    wasm: Path = typer.Argument(..., help="The signed file."),
    bundle: Optional[Path] = typer.Option(None, help="Bundle path (default: FILE.sigstore.json)."),
    keys: Optional[Path] = typer.Option(None, help="Directory of trusted public keys."),
) -> None:
    """Verify a file against its Sigstore bundle and the trusted keyring. Exit 1 on any mismatch."""
    from wasmops.supply.signing import Keyring, verify_file

    s = settings()
    ring = Keyring.from_dir(keys or s.trusted_keys_dir)
    v = verify_file(wasm, bundle, keyring=ring)
    who = getattr(v, "key_id", None) or getattr(v, "identity", None)
    console().print(f"[green]verified[/] {wasm} ({v.method}: {who})")


@app.command()
def publish(
    wasm: Path = typer.Argument(..., help="The .wasm to publish."),
    to: str = typer.Option(..., "--to", help="oci://HOST[:PORT]/REPO:TAG or oci-layout://PATH:TAG"),
    bundle: Optional[Path] = typer.Option(None, help="Signature bundle (default: FILE.sigstore.json if present)."),
    source: Optional[str] = typer.Option(None, help="org.opencontainers.image.source"),
    revision: Optional[str] = typer.Option(None, help="org.opencontainers.image.revision"),
) -> None:
    """Publish a .wasm as an OCI artifact (signature attached as a referrer). Prints the digest."""
    from ..errors import SpecError
    from wasmops.supply.oci import publish as do_publish

    if not wasm.exists():
        raise SpecError("file not found", where=str(wasm))
    if bundle is None:
        cand = wasm.with_name(wasm.name + ".sigstore.json")
        bundle = cand if cand.exists() else None
    ann = {}
    if source:
        ann["org.opencontainers.image.source"] = source
    if revision:
        ann["org.opencontainers.image.revision"] = revision
    res = do_publish(wasm, to, bundle_path=bundle, annotations=ann, timeout_s=settings().registry_timeout_s)
    print(res.manifest_digest)


@app.command()
def pull(
    ref: str = typer.Argument(..., help="oci://... or oci-layout://... (tag or @sha256 digest)"),
    out: Path = typer.Option(..., "-o", "--out", help="Where to write the .wasm."),
) -> None:
    """Pull a module, verifying every digest. Nothing partial is written on failure."""
    from ..digests import shown
    from wasmops.supply.oci import pull as do_pull

    res = do_pull(ref, out, timeout_s=settings().registry_timeout_s)
    console().print(f"pulled {shown('manifest', res.manifest_digest)} → {res.path} ({res.size} bytes)", highlight=False)
