"""The desired state read from the GitOps repo: at a commit (what the reconciler applies) or a directory.

Each manifest is validated on its own. A broken file does not hide the others: loading at a commit
returns every valid document plus one :class:`ManifestError` per broken file (file and field), and
code that asks for a broken module by key gets a :class:`~wasmops.errors.SpecError` naming that file::

    >>> from wasmops.gitops.desired import load_desired_state, load_desired_state_at
    >>> import tempfile
    >>> from wasmops.config import Settings
    >>> from wasmops.gitops.repo import GitOpsRepo; from wasmops.gitops.repo_init import init_repo
    >>> repo = GitOpsRepo.open(init_repo(Settings(home=tempfile.mkdtemp())))   # seeded from deployments/
    >>> bad = (repo.path / "modules/dev/sum-wat.yaml").read_text()
    >>> bad = bad.replace("name: sum-wat", "name: bad").replace("replicas: 1", "replicas: many")
    >>> _ = repo.write_files({"modules/dev/bad.yaml": bad}, "a broken manifest")
    >>> ds = load_desired_state_at(repo.path, "main")
    >>> sorted(ds.deployments)
    ['dev/greet-c', 'dev/sum-wat', 'dev/upper-zig', 'prod/greet-c']
    >>> [str(e) for e in ds.errors]                            # doctest: +ELLIPSIS
    ['modules/dev/bad.yaml: spec.replicas: Input should be a valid integer, ...']
    >>> ds.deployments["dev/bad"]                              # doctest: +ELLIPSIS
    Traceback (most recent call last):
    wasmops.errors.SpecError: modules/dev/bad.yaml: spec.replicas: Input should be a valid integer, ...

A directory (``load_desired_state("deployments")``) is read strictly by default: render and FinOps
must not drop a module silently, so one SpecError lists every broken file (``strict=False`` to get
``.errors`` instead).

Manifests end in ``.yaml`` or ``.yml``. A broken ``quarantine.yaml`` is the one file that fails the
whole load: without the quarantine list nothing may be deployed safely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import yaml

from wasmops.errors import NotFound, SpecError
from wasmops.gitops.manifest import Budget, PriceSheet, WasmModuleDeployment
from wasmops.gitops.quarantine import FILE as QUARANTINE_FILE
from wasmops.yamldoc import _Loader, parse
from wasmops.yamldoc import load_yaml as _yaml

SUFFIXES = (".yaml", ".yml")
PRICING_FILES = ("pricing.yaml", "pricing.yml")


@dataclass(frozen=True, slots=True)
class ManifestError:
    """One broken file: where it is, what is wrong (``field: problem``), and which module it meant."""

    file: str                      # path relative to the repo root
    message: str                   # "spec.replicas: Input should be a valid integer ..."
    kind: str = "WasmModuleDeployment"
    key: str | None = None         # ns/name, when the file says (or its path tells) which module
    namespace: str | None = None

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"

    def error(self) -> SpecError:
        return SpecError(self.message, where=self.file, hint="fix the file in Git and commit it")


class Deployments(dict):
    """``key -> WasmModuleDeployment``; asking for a key whose file is broken (``[key]`` or ``.get``)
    raises its SpecError, naming the file and the field."""

    def __init__(self, data=(), broken: dict[str, ManifestError] | None = None):
        super().__init__(data)
        self.broken: dict[str, ManifestError] = dict(broken or {})

    def __missing__(self, key):
        if key in self.broken:
            raise self.broken[key].error()
        raise KeyError(key)

    def get(self, key, default=None):
        """Like ``dict.get``, but a broken module is neither there nor absent: its SpecError is raised."""
        if key not in self and key in self.broken:
            raise self.broken[key].error()
        return super().get(key, default)


@dataclass
class DesiredState:
    revision: str | None
    deployments: dict[str, WasmModuleDeployment] = field(default_factory=Deployments)
    files: dict[str, str] = field(default_factory=dict)        # key -> path relative to the repo
    quarantine: set[str] = field(default_factory=set)
    budgets: list[Budget] = field(default_factory=list)
    pricing: PriceSheet | None = None
    errors: list[ManifestError] = field(default_factory=list)  # one per broken file
    # Set by an incremental load (wasmops.gitops.desired_loader): the revision it started from and the module
    # keys whose manifest changed since; None when unknown (a full load).
    base_revision: str | None = field(default=None, compare=False, repr=False)
    changed: frozenset[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.deployments, Deployments):
            self.deployments = Deployments(self.deployments)
        # as a full load has it: a key that also has a valid manifest (in another file) is not broken
        self.deployments.broken.update({e.key: e for e in self.errors if e.key and e.kind == WasmModuleDeployment.__name__
                                        and e.key not in self.deployments})

    def deployment(self, key: str) -> WasmModuleDeployment:
        """The module ``key``: SpecError (file and field) if its file is broken, NotFound if absent."""
        m = self.deployments.get(key)   # raises the SpecError of a broken file
        if m is not None:
            return m
        raise NotFound(f"no WasmModuleDeployment {key} in the desired state",
                       hint=f"known: {', '.join(sorted(self.deployments)) or 'none'}")

    def module_errors(self, namespaces: set[str] | None = None) -> list[ManifestError]:
        """Broken module files; with ``namespaces``, only those known to belong to one of them."""
        return [e for e in self.errors if e.kind == WasmModuleDeployment.__name__
                and (namespaces is None or e.namespace in namespaces)]

    def raise_for_errors(self) -> None:
        """For strict callers: one SpecError listing every broken file."""
        if len(self.errors) == 1:
            raise self.errors[0].error()
        if self.errors:
            raise SpecError(f"{len(self.errors)} broken file(s): " + "; ".join(map(str, self.errors)),
                            hint="fix them in Git and commit")


def artifact_ref(repository: str, tag: str, registry: str, digest: str | None = None) -> str:
    """Resolve a moduleRef to an OCI reference.

    ``repository`` is either a full base (``oci://host/ns/mod``, ``oci-layout://path``) or a bare
    name resolved against ``registry``. An image layout holds one repository, so the name is
    folded into the tag: ``oci-layout://PATH:wasmops-greet-c-TAG``.
    """
    from wasmops.supply.oci.refs import LAYOUT_SCHEME, Ref, parse_ref

    if "://" not in repository and not registry:
        # nothing to resolve a bare name against: plans that only compare digests (drift, broken
        # manifests) pass registry="", and their refs are never pulled
        return f"{repository}:{tag}" + (f"@{digest}" if digest else "")
    if "://" in repository:
        base, t = parse_ref(repository), tag
    elif registry.startswith(LAYOUT_SCHEME):
        base, t = parse_ref(registry), f"{repository.replace('/', '-')}-{tag}"
    else:
        reg = parse_ref(f"{registry.rstrip('/')}/{repository}")
        base, t = Ref(kind="registry", host=reg.host, repo=reg.repo), tag
    ref = base.with_tag(t)
    return str(ref.with_digest(digest) if digest else ref)


# -- which files are which ---------------------------------------------------------------------

def wanted(rel: str) -> bool:
    """Is the repo-relative path one the desired state reads?"""
    parts = rel.split("/")
    if parts[0] == "modules":
        return rel.endswith(SUFFIXES) and len(parts) >= 2
    if parts[0] == "budgets":
        return rel.endswith(SUFFIXES) and len(parts) == 2
    return rel in PRICING_FILES or rel == QUARANTINE_FILE


Reader = Callable[[], str]


def _dir_files(root: Path) -> Iterator[tuple[str, Reader]]:
    for sub, pattern in (("modules", "**/*"), ("budgets", "*")):
        for p in sorted((root / sub).glob(pattern)):
            rel = p.relative_to(root).as_posix()
            if p.is_file() and wanted(rel):
                yield rel, p.read_text
    for name in (*PRICING_FILES, QUARANTINE_FILE):
        if (root / name).is_file():
            yield name, (root / name).read_text


def _commit_files(commit) -> Iterator[tuple[str, Reader]]:
    for obj in commit.tree.traverse():
        if obj.type == "blob" and wanted(obj.path):
            yield obj.path, (lambda b=obj: b.data_stream.read().decode("utf-8", "replace"))


# -- parsing one file --------------------------------------------------------------------------

def _identify(rel: str, text: str) -> tuple[str | None, str | None]:
    """(key, namespace) of a broken module file: from its metadata if readable, else from its path."""
    try:
        md = (yaml.load(text, Loader=_Loader) or {}).get("metadata")
    except Exception:  # noqa: BLE001 - unreadable: fall back to the path
        md = None
    if isinstance(md, dict) and isinstance(md.get("name"), str) and isinstance(md.get("namespace", ""), str):
        ns = md.get("namespace") or "default"
        return f"{ns}/{md['name']}", ns
    parts = rel.split("/")
    if len(parts) == 3:   # modules/<namespace>/<name>.yaml, the layout releases write
        name = parts[2].rsplit(".", 1)[0]
        return f"{parts[1]}/{name}", parts[1]
    return None, None


def _quarantine(text: str, rel: str) -> set[str]:
    data = _yaml(text, rel) or {}
    entries = data.get("entries", []) if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "digest" in e for e in entries):
        raise SpecError("entries: expected a list of {digest, module, reason}", where=rel)
    return {e["digest"] for e in entries}


# -- loading: one result per file, then one assembly (a full and an incremental load share both) --

Parsed = object   # WasmModuleDeployment | Budget | PriceSheet | ManifestError | frozenset (quarantine) | SpecError


def parse_file(rel: str, text: str) -> Parsed:
    """What one wanted file holds: its document, or a ManifestError naming the file and field.
    A broken quarantine.yaml gives its SpecError (raised by the assembly: it fails the whole load)."""
    if rel == QUARANTINE_FILE:
        try:
            return frozenset(_quarantine(text, rel))
        except SpecError as exc:
            return exc
    if rel.startswith("modules/"):
        try:
            return parse(text, rel, WasmModuleDeployment)
        except SpecError as exc:
            key, ns = _identify(rel, text)
            return ManifestError(rel, exc.message, key=key, namespace=ns)
    kind = Budget if rel.startswith("budgets/") else PriceSheet
    try:
        return parse(text, rel, kind)
    except SpecError as exc:
        return ManifestError(rel, exc.message, kind=kind.__name__)


def path_key(rel: str) -> str | None:
    """``ns/name`` of a file at ``modules/<ns>/<name>.yaml`` (or ``.yml``); None for other layouts."""
    parts = rel.split("/")
    if len(parts) != 3 or parts[0] != "modules" or not parts[2].endswith((".yaml", ".yml")):
        return None
    return f"{parts[1]}/{parts[2].rsplit('.', 1)[0]}"


def _load_modules(ds: DesiredState, files: list[tuple[str, Parsed]]) -> None:
    found: dict[str, list[tuple[str, WasmModuleDeployment]]] = {}
    for rel, m in files:
        at = path_key(rel)
        if isinstance(m, ManifestError):
            ds.errors.append(m)
        elif at is not None and at != m.key:
            # a typo in metadata must not make this file define another module (and the one its path
            # names look deleted: an operator's namespace typo deleted a live module)
            ds.errors.append(ManifestError(rel, f"metadata: names {m.key}, but the file is {rel} (a manifest lives at "
                                           "modules/<namespace>/<name>.yaml: fix the metadata, or move the file)",
                                           key=at, namespace=at.split("/", 1)[0]))
        else:
            found.setdefault(m.key, []).append((rel, m))
    for key, defs in found.items():
        if len(defs) == 1:
            ds.deployments[key], ds.files[key] = defs[0][1], defs[0][0]
            continue
        where = ", ".join(rel for rel, _ in defs)
        ds.errors.extend(ManifestError(rel, f"metadata: {key} is defined more than once ({where})",
                                       key=key, namespace=m.metadata.namespace) for rel, m in defs)


def assemble(parsed: dict[str, Parsed], revision: str | None) -> DesiredState:
    """The desired state from every file's parse result (``rel -> parse_file(rel, text)``)."""
    ds = DesiredState(revision=revision)
    modules = []
    for rel in sorted(parsed):
        doc = parsed[rel]
        if rel.startswith("modules/"):
            modules.append((rel, doc))
        elif isinstance(doc, SpecError):    # quarantine.yaml: without it nothing may be deployed safely
            raise SpecError(doc.message, where=doc.where, hint=doc.hint)
        elif rel == QUARANTINE_FILE:
            ds.quarantine = set(doc)
        elif isinstance(doc, ManifestError):
            ds.errors.append(doc)
        elif isinstance(doc, Budget):
            doc._source = rel
            ds.budgets.append(doc)
        else:
            ds.pricing = doc
    _refuse_foreign_currency(ds)
    _load_modules(ds, modules)
    ds.deployments.broken.update({e.key: e for e in ds.module_errors() if e.key and e.key not in ds.deployments})
    ds.errors.sort(key=lambda e: e.file)
    return ds


def _refuse_foreign_currency(ds: DesiredState) -> None:
    """A budget in another currency than the PriceSheet's is a broken budget file (named, file and field,
    in ``.errors``; not in ``.budgets``): found only when a projection reached it, it stopped the daily
    budget check before any other budget was alerted. A sheet of mixed currencies is its own error."""
    currencies = {p.currency for p in ds.pricing.spec.prices} if ds.pricing is not None else set()
    if len(currencies) != 1:
        return
    (cur,) = currencies
    for b in [b for b in ds.budgets if b.spec.currency != cur]:
        ds.budgets.remove(b)
        ds.errors.append(ManifestError(b.source, f"spec.currency: budget {b.spec.scope} {b.spec.name} is in "
                                       f"{b.spec.currency} but prices are in {cur} (pricing.yaml)", kind="Budget"))


def parse_all(files: Iterable[tuple[str, Reader]]) -> dict[str, Parsed]:
    return {rel: parse_file(rel, read()) for rel, read in files}


def _load(files: Iterable[tuple[str, Reader]], revision: str | None) -> DesiredState:
    return assemble(parse_all(files), revision)


def load_desired_state(root: str | Path, *, revision: str | None = None, strict: bool = True) -> DesiredState:
    """Every document in the directory ``root`` (a checkout, or a seed like ``deployments/``).

    ``strict`` (the default, for render and FinOps, which must not silently drop a module) raises
    one SpecError naming every broken file; ``strict=False`` returns them in ``.errors``."""
    ds = _load(_dir_files(Path(root)), revision)
    if strict:
        ds.raise_for_errors()
    return ds


def load_desired_state_at(repo_dir: str | Path, revision: str = "HEAD", *, strict: bool = False) -> DesiredState:
    """The desired state at a commit, read from Git objects: uncommitted edits are never seen.
    Broken files are in ``.errors`` (the reconciler stalls them one by one) unless ``strict``."""
    import git

    try:
        commit = git.Repo(repo_dir).commit(revision)
    except (git.BadName, ValueError) as exc:
        raise NotFound(f"no commit {revision!r} in the GitOps repo", where=str(repo_dir)) from exc
    ds = _load(_commit_files(commit), commit.hexsha)
    if strict:
        ds.raise_for_errors()
    return ds


def dump_yaml(data) -> str:
    return yaml.safe_dump(data, sort_keys=False)
