"""The way in for a new module: ``wasmops new`` → ``wasmops test`` → ``wasmops add`` → ``wasmops release``.

``scaffold`` writes a module directory that passes ``wasmops test`` as generated (one success case,
one error case that exits 2 with its message on stdout). ``add_deployment`` writes the module's
``WasmModuleDeployment`` into the GitOps repo, validated by the same schema as every manifest and
committed with a provenance trailer. ``preflight`` checks what a release needs before any
orchestrator starts, so a missing manifest is an error in milliseconds, not after Prefect's start::

    >>> import tempfile, pathlib
    >>> d = scaffold("wordstat", "wat", pathlib.Path(tempfile.mkdtemp()) / "wordstat")
    >>> sorted(p.name for p in d.iterdir())
    ['main.wat', 'module.yaml']
"""

from __future__ import annotations

import getpass
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from .errors import NotFound, QuarantinedError, SpecError, UserError, spec_error_from_pydantic
from wasmops.gitops.manifest import NAME, WasmModuleDeployment, dump_document
from wasmops.host.state import MODULE_LABEL
from wasmops.supply.source import ModuleSource, load_module_source

TEMPLATES = Path(__file__).parent / "templates"
LANGUAGES = {"c": "main.c", "zig": "main.zig", "wat": "main.wat"}
_EXPECT = {"wat": '{"bytes": 16}', "c": '{"bytes": 16, "words": 3}', "zig": '{"bytes": 16, "words": 3}'}


def _check_name(name: str, field: str) -> None:
    if not re.match(NAME, name or ""):
        raise UserError(f"{name!r} is not a valid name: lower-case letters, digits and '-', "
                        f"starting and ending with a letter or digit, at most 63 characters", where=field)


def scaffold(name: str, language: str, directory: Path) -> Path:
    """Write ``module.yaml`` and a source file for ``language`` into ``directory`` (which must not
    hold a module yet). Returns the directory."""
    _check_name(name, "NAME")
    if language not in LANGUAGES:
        raise UserError(f"unknown language {language!r}; choose one of {', '.join(LANGUAGES)}", where="--language",
                        hint="a .wasm built elsewhere (Rust, C++, TinyGo, ...) needs no scaffold: write its module.yaml "
                             "with `language: prebuilt` and `sources: [path/to/module.wasm]` (README, \"A .wasm built "
                             "elsewhere\")")
    directory = Path(directory)
    if (directory / "module.yaml").exists():
        raise UserError("a module already lives here", where=str(directory / "module.yaml"))
    source = LANGUAGES[language]
    text = (TEMPLATES / language / source).read_text().replace("__NAME__", name)
    text = text.replace("__ERRLEN__", str(len(f"{name}: empty input\n")))
    fill = {"__NAME__": name, "__LANGUAGE__": language, "__SOURCE__": source, "__DIR__": str(directory),
            "__EXPECT__": _EXPECT[language]}
    yml = (TEMPLATES / "module.yaml.tmpl").read_text()
    for k, v in fill.items():
        yml = yml.replace(k, v)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / source).write_text(text)
    (directory / "module.yaml").write_text(yml)
    load_module_source(directory)  # what we wrote must load
    return directory


@dataclass(frozen=True)
class Target:
    namespace: str
    name: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def parse(cls, text: str, *, field: str = "--target") -> "Target":
        ns, sep, name = (text or "").partition("/")
        if not sep or "/" in name:
            raise UserError(f"{text!r} is not NAMESPACE/NAME (for example dev/wordstat)", where=field)
        _check_name(ns, f"{field} namespace")
        _check_name(name, f"{field} name")
        return cls(ns, name)


def manifest_path(gitops_dir: Path, target: Target) -> Path:
    """Where the manifest of ``target`` lives in the GitOps repo (``modules/<ns>/<name>.yaml``)."""
    return Path(gitops_dir) / "modules" / target.namespace / f"{target.name}.yaml"


def source_location(module_dir: Path, gitops_dir: Path) -> str:
    """Where the source lives, in a form that works from another clone: ``<remote URL>//<path>`` (the
    ``//`` separates repository and subdirectory, as in Terraform's and go-getter's sources) when the
    module is committed in a git checkout whose ``origin`` is a remote (not a path of this machine),
    else a path relative to the GitOps repo (never an absolute path of this machine)."""
    module_dir = module_dir.resolve()
    remote = _remote_location(module_dir, gitops_dir)
    return remote or Path(os.path.relpath(module_dir, gitops_dir.resolve())).as_posix()


def _remote_location(module_dir: Path, gitops_dir: Path) -> str | None:
    """``<origin>//<path>`` when another clone of origin holds this module as committed, else None."""
    try:
        import git

        repo = git.Repo(module_dir, search_parent_directories=True)
        top = Path(repo.working_tree_dir).resolve()
        url = next((r.url for r in repo.remotes if r.name == "origin"), None)
        if not url or top == gitops_dir.resolve() or _is_local(url):
            return None
        rel = module_dir.relative_to(top).as_posix()
        if rel != "." and not _committed(repo, rel):
            return None
        url = url.rstrip("/")
        return url if rel == "." else f"{url}//{rel}"
    except Exception:  # noqa: BLE001 - not a git checkout (or no commit yet): a relative path
        return None


def _is_local(url: str) -> bool:
    """A path of this machine (``/work/main``, ``../repo``, ``file://...``): meaningless on another.
    As git reads a URL: a scheme, else ``[user@]host:path`` when no ``/`` comes before the first ``:``.

        >>> [_is_local(u) for u in ("/work/main", "../r", "file:///r", "https://h/r.git", "git@h:o/r.git")]
        [True, True, True, False, False]
    """
    if "://" in url:
        return url.startswith("file://")
    head, colon, _ = url.partition(":")
    return not colon or "/" in head


def _committed(repo, rel: str) -> bool:
    """module.yaml is in HEAD and nothing under the module directory differs from it."""
    try:
        repo.head.commit.tree / rel / "module.yaml"
    except KeyError:
        return False
    return not repo.is_dirty(untracked_files=True, path=rel)


def deployment_for(src: ModuleSource, target: Target, *, team: str, project: str, cost_center: str | None,
                   env: str, trust_level: str, source: str) -> WasmModuleDeployment:
    labels = {"team": team, "project": project, **({"cost-center": cost_center} if cost_center else {}),
              MODULE_LABEL: src.name}      # the host's argv[0], as in `wasmops test` (wasmops.host.state)
    doc = {
        "apiVersion": "wasmops.dev/v1alpha1", "kind": "WasmModuleDeployment",
        "metadata": {"name": target.name, "namespace": target.namespace, "labels": labels},
        "spec": {"environment": env, "replicas": 1, "source": source,
                 "moduleRef": {"repository": f"wasmops/{target.name}", "tag": "unreleased"},
                 "runtimeConfig": {"resources": {"cpu": f"{max(1, -(-src.limits.fuel // 1_000_000))}m",
                                                 "memory": str(src.limits.memory)},
                                   "trustLevel": trust_level, "timeoutMs": src.limits.timeout_ms,
                                   "maxStdout": str(src.limits.max_stdout),
                                   **({"successExitCodes": src.success_exit_codes} if src.success_exit_codes else {}),
                                   **({"args": src.args} if src.args else {}),
                                   **({"scratch": src.scratch.model_dump(by_alias=True, exclude_none=True)}
                                      if src.scratch else {})}},
    }
    try:
        return WasmModuleDeployment.model_validate(doc)
    except ValidationError as exc:
        raise spec_error_from_pydantic(exc, where=f"modules/{target.namespace}/{target.name}.yaml") from exc


def add_deployment(repo, module_dir: Path, target: Target, *, team: str, project: str,
                   cost_center: str | None = None, env: str = "dev", trust_level: str = "sandboxed",
                   actor: str | None = None) -> tuple[Path, str]:
    """Write and commit the WasmModuleDeployment for ``module_dir`` at ``target``. Refuses an existing
    target; nothing is written unless everything validates. Returns (manifest path, commit sha)."""
    src = load_module_source(module_dir)
    _check_name(team, "--team")
    _check_name(project, "--project")
    path = manifest_path(repo.path, target)
    existing = [path.with_suffix(x) for x in (".yaml", ".yml") if path.with_suffix(x).exists()]
    desired = repo.desired()
    if existing or target.key in desired.deployments:
        where = existing[0] if existing else repo.path / desired.files.get(target.key, path.relative_to(repo.path))
        raise UserError(f"a WasmModuleDeployment {target.key} already exists", where=str(where),
                        hint=f"release it with `wasmops release {module_dir} --target {target.key}`, "
                             "or choose another --target")
    m = deployment_for(src, target, team=team, project=project, cost_center=cost_center, env=env,
                       trust_level=trust_level, source=source_location(Path(module_dir), repo.path))
    rel = path.relative_to(repo.path).as_posix()
    msg = (f"add {target.key}\n\nOnboard module {src.name} ({src.language}) as {target.key} "
           f"for team {team}, project {project}.\n\nWasmops-Actor: {actor or getpass.getuser()}\n"
           f"Wasmops-Source: {m.spec.source}\n")
    res = repo.write_files({rel: dump_document(m)}, msg)
    return path, res.sha


@dataclass(frozen=True)
class Preflight:
    source: ModuleSource
    manifest: WasmModuleDeployment
    notes: tuple[str, ...] = ()     # printed before the release starts; nothing refused


def default_env(namespace: str) -> str:
    """A target's environment when ``--env`` is not given: ``prod`` for the namespaces prod, production,
    prod-* and production-*, where a person expects releases to wait for approval; ``dev`` elsewhere."""
    return "prod" if namespace.split("-")[0] in ("prod", "production") else "dev"


def env_note(manifest: WasmModuleDeployment, manifest_file: Path) -> str | None:
    """A manifest in a prod namespace that says ``environment: dev``. `wasmops add --target prod/x` wrote
    that until 2026-12-06 (37a23aa), so a workspace made before it keeps prod modules that are never
    asked for approval, and the old `add` told people to release them with --auto-approve. It may also
    be meant (``add --env dev``): a note each release, never a refusal."""
    if manifest.spec.environment != "dev" or default_env(manifest.metadata.namespace) != "prod":
        return None
    return (f"{manifest.key} is environment dev ({manifest_file}: spec.environment) although its namespace is "
            f"{manifest.metadata.namespace}: its releases are not asked for approval. `wasmops add` wrote dev "
            f"for prod namespaces before 2026-12-06; if you meant prod, set `environment: prod` there and "
            f"commit it")


def preflight(settings, module_dir: Path, target: str | None, *, auto_approve: bool, check_host=None) -> Preflight:
    """Everything a release can check without an orchestrator: module.yaml, target manifest,
    dev-only auto-approval, quarantine of the live digest, a prebuilt module's policy verdict, the host."""
    from wasmops.gitops.repo import GitOpsRepo

    src = load_module_source(module_dir)
    key = target or f"dev/{src.name}"
    t = Target.parse(key)
    repo = GitOpsRepo.from_settings(settings)
    desired = repo.desired()
    manifest = desired.deployments.get(key)
    if manifest is None:
        raise NotFound(f"no WasmModuleDeployment {key} in the GitOps repo", where=str(manifest_path(repo.path, t)),
                       hint=f"onboard it first: wasmops add {module_dir} --target {key} --team TEAM --project PROJECT")
    repo.refuse_uncommitted(repo.path / desired.files[key])     # the release commit would take them along
    _name_preflight(src, manifest, repo.path / desired.files[key])
    if auto_approve and manifest.spec.environment != "dev":
        raise UserError(f"--auto-approve is for dev only; {key} is {manifest.spec.environment}", where=key)
    live = manifest.spec.module_ref.digest
    if live and live in desired.quarantine:
        raise QuarantinedError(f"the digest Git holds for {key} ({live}) is quarantined", where=key,
                               hint=f"roll back or lift it: wasmops quarantine remove {live} --reason ...")
    _cases_preflight(src, manifest, key, repo.path / desired.files[key])
    if src.language == "prebuilt" and len(src.sources) == 1:
        _policy_preflight(settings, src, manifest, key)
    if check_host:
        check_host()
    notes = (env_note(manifest, repo.path / desired.files[key]), not_run_note(src, manifest),
             exit_codes_note(src, manifest, repo.path / desired.files[key]))
    return Preflight(src, manifest, tuple(n for n in notes if n))


def exit_codes_note(src: ModuleSource, manifest: WasmModuleDeployment, manifest_file: Path) -> str | None:
    """module.yaml's ``success_exit_codes`` changed after `wasmops add`, which wrote them to the manifest
    once: `wasmops test` and verify pass a case expecting exit 43, and the host then answers every exit 43
    with a 502 counted as an error (found from outside, fourth round). Said before each release, with
    the line to set; a note, not a refusal: the deployment's codes may differ on purpose.

        >>> from types import SimpleNamespace as NS
        >>> m = NS(spec=NS(runtime_config=NS(success_exit_codes=[42])))
        >>> print(exit_codes_note(NS(success_exit_codes=[43, 42]), m, Path("/ws/gitops/modules/dev/c.yaml")))
        module.yaml's success_exit_codes are [42, 43], the deployment's [42] (/ws/gitops/modules/dev/c.yaml: \
spec.runtimeConfig.successExitCodes): the host answers exit 43 as an error (502, counted in \
wasmops_errors_total), though `wasmops test` and verify pass it; to serve them as module.yaml says, set \
`successExitCodes: [42, 43]` there and commit it
        >>> exit_codes_note(NS(success_exit_codes=[42]), m, Path("x")) is None
        True
    """
    mine, deployed = sorted(set(src.success_exit_codes)), sorted(set(manifest.spec.runtime_config.success_exit_codes))
    if mine == deployed:
        return None
    errs = [c for c in mine if c not in deployed]
    said = (f"the host answers exit {', '.join(map(str, errs))} as an error (502, counted in wasmops_errors_total), "
            "though `wasmops test` and verify pass it" if errs else
            f"the host answers exit {', '.join(str(c) for c in deployed if c not in mine)} as a success")
    return (f"module.yaml's success_exit_codes are {mine}, the deployment's {deployed} ({manifest_file}: "
            f"spec.runtimeConfig.successExitCodes): {said}; to serve them as module.yaml says, set "
            f"`successExitCodes: {mine}` there and commit it")


def not_run_note(src: ModuleSource, manifest: WasmModuleDeployment) -> str | None:
    """The cases verify cannot run through the host, and why, said before the release: its last line
    says only "verify: 1/1 passed, 1 not run" (npm's flite: a `--help` case with args)."""
    from wasmops.supply.testrun import scratch_differs, why_not_runnable

    rc = manifest.spec.runtime_config
    why = {c.name: why_not_runnable(c, rc.env, rc.args) or scratch_differs(src.scratch, rc.scratch) for c in src.tests}
    skipped = "; ".join(f"{n}: {w}" for n, w in why.items() if w)
    if not skipped or all(why.values()):     # none runnable: _cases_preflight refuses (or allowUnverified)
        return None
    return f"verify through the host will report as not run: {skipped} (they run in `wasmops test` only)"


def _name_preflight(src: ModuleSource, manifest: WasmModuleDeployment, manifest_file: Path) -> None:
    """The host runs the module with argv[0] from the manifest's ``wasmops.dev/module`` label (else its
    metadata.name), ``wasmops test`` with module.yaml's ``name``: when they differ (module.yaml renamed
    after `wasmops add`), a case that checks argv[0] would pass the test step and fail verify, and a
    healthy build would be rolled back and quarantined."""
    label = manifest.metadata.labels.get(MODULE_LABEL)
    program = label or manifest.metadata.name
    if program == src.name:
        return
    yml = str(src.root / "module.yaml") if src.root else "module.yaml"
    field = f"metadata.labels.{MODULE_LABEL}" if label else f"metadata.name (it has no label {MODULE_LABEL})"
    raise UserError(f"module.yaml names the module {src.name!r} but {manifest_file} has {field}: {program!r}; "
                    f"the host would run it as {program!r} (argv[0]) and `wasmops test` as {src.name!r}",
                    where=yml + ": name",
                    hint=f"set `{MODULE_LABEL}: {src.name}` under metadata.labels in {manifest_file} and commit it "
                         f"(the module was renamed), or keep `name: {program}` in {yml}")


def _cases_preflight(src: ModuleSource, manifest: WasmModuleDeployment, key: str, manifest_file: Path) -> None:
    """A release is verified through the host by the module's test cases: with none it would fail at
    the test step, and with none the host can run it would deploy and fail verify."""
    from wasmops.supply.testrun import scratch_differs, why_not_runnable

    where = str(src.root / "module.yaml") if src.root else "module.yaml"
    if not src.tests:
        raise SpecError("no test cases: a release runs them before publishing and verifies the deployment "
                        "with them", where=where + ": tests", hint="add a case under `tests:` (see `wasmops new`)")
    env, args = manifest.spec.runtime_config.env, manifest.spec.runtime_config.args
    files = scratch_differs(src.scratch, manifest.spec.runtime_config.scratch)
    why = {c.name: why_not_runnable(c, env, args) or files for c in src.tests}
    if all(why.values()) and not manifest.spec.verify.allow_unverified:
        listed = "; ".join(f"{n}: {w}" for n, w in why.items())
        case_fix = (f"add a case with {f'exactly the deployment args (`args: {json.dumps(args)}`)' if args else 'no args'}"
                    f", within 8 MiB of stdin, and with exactly the deployment's env "
                    f"(`env: {json.dumps(env or {})}`; the host runs every case with them)")
        from wasmops.onboard_env import shared_env

        shared = shared_env(src, manifest_file)
        raise SpecError(f"none of the test cases can run through the host of {key}, so the deployment could not "
                        f"be verified ({listed})", where=where + ": tests",
                        hint=(f"{shared}, or {case_fix}" if shared else case_fix) +
                             f" (or set spec.verify.allowUnverified in {manifest_file})")


def _policy_preflight(settings, src: ModuleSource, manifest: WasmModuleDeployment, key: str) -> None:
    """A prebuilt module is its own build: the policy step's verdict is known before any flow starts."""
    from wasmops.supply.policy import check_module, load_policy
    from wasmops.workspace import policy_path

    rc = manifest.spec.runtime_config
    path = src.root / src.sources[0]
    v = check_module(path.read_bytes(), rc.trust_level, load_policy(policy_path(settings)),
                     memory_limit=manifest.memory_bytes, timeout_ms=rc.timeout_ms, fuel=manifest.fuel_per_request,
                     where=str(path), max_stdout=manifest.host_limits()["max_stdout"])
    v.raise_if_denied(where=key)


def prebuilt_note(settings, module_dir: Path, manifest_file: Path) -> str | None:
    """What the release's preflight will refuse about a prebuilt module just added, said by `add`
    (which writes the manifest all the same: it is written once, and edited after). npm's crc32 addon
    and ruby.wasm were added without a word and refused only at the first release."""
    from wasmops.errors import WasmopsError
    from wasmops.gitops.manifest import load_document

    src = load_module_source(module_dir)
    if src.language != "prebuilt" or len(src.sources) != 1:
        return None
    manifest = load_document(manifest_file, WasmModuleDeployment)
    try:
        _policy_preflight(settings, src, manifest, manifest.key)
    except WasmopsError as exc:
        reasons = getattr(exc, "reasons", None)
        level = manifest.spec.runtime_config.trust_level
        said = (f"denied at trust level {level}: " + "; ".join(reasons[:3]) + (
            f"; and {len(reasons) - 3} more (`wasmops check {src.root / src.sources[0]} --trust-level {level}` "
            "lists them)" if len(reasons) > 3 else "")) if reasons else exc.message.splitlines()[0]
        return (said + (f"\n  hint: {exc.hint}" if exc.hint else "")
                + f"\n  (a release of {manifest.key} will stop at its preflight until that changes; "
                f"its manifest is {manifest_file})")
    return None


__all__ = ["scaffold", "add_deployment", "preflight", "Preflight", "Target", "source_location", "LANGUAGES"]
