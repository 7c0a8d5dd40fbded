"""Build a module source (``module.yaml`` + sources) into one reproducible ``.wasm`` file.

    >>> import tempfile
    >>> from pathlib import Path
    >>> from wasmops.config import Settings
    >>> from wasmops.supply.build import build
    >>> from wasmops.supply.source import load_module_source
    >>> ws = Path(tempfile.mkdtemp())                  # the workspace: its build cache lives here
    >>> src = load_module_source("examples/sum-wat")
    >>> r = build(src, ws / "out", settings=Settings(home=ws))
    >>> r.path.relative_to(ws), r.toolchain, r.cached   # doctest: +ELLIPSIS
    (PosixPath('out/sum-wat.wasm'), 'wasmtime.wat2wasm ...', False)
    >>> again = build(src, ws / "again", settings=Settings(home=ws))
    >>> again.cached, again.digest == r.digest
    (True, True)

(``examples/greet-c`` and ``examples/upper-zig`` build the same way with ``zig cc`` / ``zig``.)

One small module per language: :mod:`.c` (clang + wasi-libc, or ``zig cc``), :mod:`.zig`,
:mod:`.wat` (``wasmtime.wat2wasm``) and :mod:`.prebuilt` (validated copy). Each offers
``find_toolchain(settings)``, ``flags(src, tc)`` and ``compile(src, tc, dest, ctx)``.

Reproducible: compilers run with the module directory as cwd, relative source paths, stripped
output, no build id, ``-ffile-prefix-map`` and ``SOURCE_DATE_EPOCH``, so the same sources give the
same sha256 from any checkout path and any output directory.

Cached: the zig caches live in ``settings.zig_cache_dir``; finished outputs are kept in
``settings.build_cache`` under a key over language, toolchain, flags and source bytes, and a hit
returns ``cached=True`` without running the compiler. A prebuilt module is checked and copied every
time, never cached: the user's file is already the output.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

from wasmops.config import Settings, current
from wasmops.digests import named
from wasmops.errors import SpecError, ToolchainMissing, WasmopsError
from wasmops.fsutil import atomic_copy
from wasmops.supply.source import ModuleSource
from wasmops.supply.build import _cache, c, prebuilt, wat, zig
from wasmops.supply.build._toolchain import BuildContext, Progress, Toolchain
from wasmops.supply.build._validate import validate_wasm

__all__ = ["BuildResult", "build", "detect_toolchains", "output_path", "LANGUAGES", "Toolchain"]

#: language name -> builder module
LANGUAGES: dict[str, ModuleType] = {"c": c, "zig": zig, "wat": wat, "prebuilt": prebuilt}

DEFAULT_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class BuildResult:
    """One built module. ``sha256`` is the hex digest of the file at ``path``."""

    path: Path
    sha256: str
    size: int
    language: str
    toolchain: str
    duration_s: float
    cached: bool

    @property
    def digest(self) -> str:
        """The OCI-style digest, ``sha256:<hex>``."""
        return named(self.sha256)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def output_path(src: ModuleSource, out: Path) -> Path:
    """``out`` itself when it ends in ``.wasm``, else ``out/<name>.wasm`` (``out`` is a directory).

    Absolute: the compilers run in the module directory, and a relative ``out`` means the caller's cwd."""
    out = Path(out).absolute()
    return out if out.suffix == ".wasm" and not out.is_dir() else out / f"{src.name}.wasm"


def _check_source(src: ModuleSource) -> ModuleType:
    if src.root is None:
        raise SpecError("the module source has no directory; read it with load_module_source()", where=src.name)
    yml = str(src.root / "module.yaml")
    lang = LANGUAGES.get(src.language)
    if lang is None:
        raise SpecError(f"language: unknown language {src.language!r}", where=yml,
                        hint=f"one of {', '.join(LANGUAGES)}")
    for rel in src.sources:
        p = Path(rel)
        if p.is_absolute() or ".." in p.parts:
            raise SpecError(f"sources: {rel} must be a path inside the module directory", where=yml)
        if not (src.root / p).is_file():
            raise SpecError(f"sources: {rel} does not exist", where=yml)
    return lang


def build(src: ModuleSource, out: Path, *, settings: Settings | None = None, progress: Progress | None = None,
          use_cache: bool = True, timeout_s: float = DEFAULT_TIMEOUT_S) -> BuildResult:
    """Compile ``src`` to ``out`` (a ``.wasm`` path or a directory); the file appears atomically.

    Raises SpecError (bad source description), ToolchainMissing (with what to install) or
    BuildFailed (the compiler's diagnostics, ``where`` = the source file, or a timeout).
    ``use_cache=False`` bypasses the build-output cache (the zig caches are still used).
    """
    t0 = time.perf_counter()
    lang = _check_source(src)
    settings = settings or current()
    ctx = BuildContext(settings=settings, progress=progress, timeout_s=timeout_s)
    dest = output_path(src, out)
    try:
        tc = lang.find_toolchain(settings)
    except ToolchainMissing as exc:
        raise ToolchainMissing(exc.message, where=str(src.root / "module.yaml"), hint=exc.hint) from exc
    flags = lang.flags(src, tc)
    key = _cache.cache_key(src, str(tc), flags, lang.SUFFIXES)
    cache_dir = Path(settings.build_cache)
    # A prebuilt "build" is a check and a copy (0.25 s for npm's 36 MB ruby.wasm): a cached copy saved
    # that and kept every version's bytes for good (36 MB more per release of it).
    use_cache = use_cache and lang is not prebuilt

    hit = _cache.lookup(cache_dir, key) if use_cache else None
    if hit is not None:
        ctx.say(f"{src.name}: unchanged since a previous build ({tc}), taken from the build cache")
        digest, size = _cache.sha256_file(hit), hit.stat().st_size
        atomic_copy(hit, dest)
        cached = True
    else:
        cached = False
        dest.parent.mkdir(parents=True, exist_ok=True)
        # The compiler writes into a private directory next to the output, always under the same
        # file name, then the file is renamed into place: readers never see a half-written module.
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{src.name}.build-") as tmp:
            built = Path(tmp) / f"{src.name}.wasm"
            ctx.say(f"building {src.name} ({src.language}) with {tc}")
            lang.compile(src, tc, built, ctx)
            if lang is not prebuilt:
                validate_wasm(built.read_bytes(), where=str(src.root / src.sources[0]))
            digest, size = _cache.sha256_file(built), built.stat().st_size
            os.chmod(built, 0o644)
            os.replace(built, dest)
        if use_cache:
            _cache.store(cache_dir, key, dest)
    return BuildResult(path=dest, sha256=digest, size=size,
                       language=src.language, toolchain=str(tc), duration_s=time.perf_counter() - t0, cached=cached)


def detect_toolchains(settings: Settings | None = None) -> dict[str, dict]:
    """What each language would build with here.

    ``{"c": {"available": True, "toolchain": "zig cc 0.17.1", "command": "...", "hint": None}, ...}``;
    an unavailable language has ``toolchain`` None and a ``hint`` saying what to install.
    """
    found: dict[str, dict] = {}
    for name, lang in LANGUAGES.items():
        try:
            tc = lang.find_toolchain(settings)
        except WasmopsError as exc:
            found[name] = {"available": False, "toolchain": None, "command": None,
                           "error": exc.message, "hint": exc.hint}
        else:
            found[name] = {"available": True, "toolchain": str(tc), "command": " ".join(tc.argv) or None,
                           "error": None, "hint": None}
    return found
