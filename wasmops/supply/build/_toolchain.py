"""Finding compilers, their versions, and the environment they run in.

Everything that looks at the machine (which compilers exist, where the sysroot is) lives here, so
tests can monkeypatch one place (``zig_command``, ``find_clang_wasi``) to simulate a missing tool.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

from wasmops.config import Settings
from wasmops.errors import ToolchainMissing

#: Fixed timestamp for tools that honour it (reproducible-builds.org/specs/source-date-epoch).
SOURCE_DATE_EPOCH = "315532800"  # 1980-01-01T00:00:00Z
#: Sysroots tried in order after ``$WASI_SYSROOT``: the wasi-sdk layout, and ``/usr``, where
#: Debian's ``wasi-libc`` puts ``include/wasm32-wasi`` and ``lib/wasm32-wasi`` (multiarch).
WASI_SYSROOTS = ("/usr/share/wasi-sysroot", "/opt/wasi-sdk/share/wasi-sysroot", "/usr")

ZIG_HINT = "install the PyPI package `ziglang` into wasmops' environment (pip install ziglang), or put `zig` on PATH"
CLANG_HINT = "Debian: apt-get install clang lld wasi-libc libclang-rt-dev-wasm32"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Toolchain:
    """One compiler as found on this machine. ``str(tc)`` is e.g. ``zig cc 0.17.1``."""

    language: str
    name: str
    version: str
    argv: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict, compare=False)

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


@dataclass
class BuildContext:
    """What a language builder needs besides the source: settings, progress callback, limits."""

    settings: Settings
    progress: Progress | None = None
    timeout_s: float = 300.0
    heartbeat_s: float = 15.0

    def say(self, msg: str) -> None:
        if self.progress is not None:
            self.progress(msg)

    @property
    def zig_global_cache(self) -> Path:
        return Path(self.settings.zig_cache_dir).expanduser().resolve()

    @property
    def zig_local_cache(self) -> Path:
        return self.zig_global_cache / "local"

    def env(self) -> dict[str, str]:
        """A small, fixed environment: no CFLAGS/CPATH leaking in, fixed timestamps and locale."""
        env = {k: os.environ[k] for k in ("PATH", "HOME", "TMPDIR", "LD_LIBRARY_PATH", "SYSTEMROOT")
               if k in os.environ}
        env.update(LC_ALL="C", LANG="C", SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH, NO_COLOR="1",
                   ZIG_GLOBAL_CACHE_DIR=str(self.zig_global_cache), ZIG_LOCAL_CACHE_DIR=str(self.zig_local_cache))
        return env


# ---- zig (PyPI ziglang, or zig on PATH) -------------------------------------------------------

def zig_command() -> list[str] | None:
    """The command that runs zig: ``python -m ziglang`` when installed, else ``zig`` from PATH."""
    if importlib.util.find_spec("ziglang") is not None:
        return [sys.executable, "-m", "ziglang"]
    exe = shutil.which("zig")
    return [exe] if exe else None


@lru_cache(maxsize=8)
def _zig_version(cmd: tuple[str, ...]) -> str:
    try:
        out = subprocess.run([*cmd, "version"], capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ToolchainMissing(f"zig does not run ({' '.join(cmd)} version): {exc}", hint=ZIG_HINT) from exc
    return out.stdout.strip()


def find_zig(language: str, purpose: str) -> tuple[list[str], str]:
    """(command, version) of zig, or ToolchainMissing saying what to install."""
    cmd = zig_command()
    if cmd is None:
        raise ToolchainMissing(f"building {purpose} needs zig, which is not installed", hint=ZIG_HINT)
    return cmd, _zig_version(tuple(cmd))


# ---- clang + wasi-libc (Debian) -----------------------------------------------------------------

def _sysroot() -> Path | None:
    env = os.environ.get("WASI_SYSROOT")
    for d in ([env] if env else []) + list(WASI_SYSROOTS):
        p = Path(d)
        if (p / "lib" / "wasm32-wasi" / "libc.a").is_file():
            return p
    return None


@lru_cache(maxsize=4)
def _clang_probe(clang: str, sysroot: str) -> str | None:
    """Compile and link a trivial WASI program once; returns clang's version, or None when it fails.

    A probe is the only reliable test: clang, wasm-ld, wasi-libc and the wasm32 compiler-rt
    builtins all have to be present, and Debian ships them in four packages.
    """
    with tempfile.TemporaryDirectory(prefix="wasmops-clang-probe-") as d:
        (Path(d) / "p.c").write_text("int main(void){return 0;}\n")
        try:
            r = subprocess.run([clang, "--target=wasm32-wasi", f"--sysroot={sysroot}", "-O2", "p.c", "-o", "p.wasm"],
                               cwd=d, capture_output=True, text=True, timeout=60)
            if r.returncode != 0 or not (Path(d) / "p.wasm").exists():
                return None
            v = subprocess.run([clang, "--version"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return None
    m = re.search(r"version (\d+[.\d]*)", v)
    return m.group(1) if m else "unknown"


def find_clang_wasi() -> tuple[str, str, str] | None:
    """(clang path, sysroot, version) when clang can build for wasm32-wasi here, else None."""
    clang = shutil.which("clang")
    sysroot = _sysroot()
    if not clang or sysroot is None:
        return None
    version = _clang_probe(clang, str(sysroot))
    return (clang, str(sysroot), version) if version else None


# ---- first-build notices --------------------------------------------------------------------------

def _marker(ctx: BuildContext, tc: Toolchain, flags: list[str]) -> Path:
    # What zig caches per flag set is the libraries it builds for the target (wasi-libc,
    # compiler-rt, std), which depend on the optimisation mode only, not on defines or warnings.
    opt = [f for f in flags if f.startswith("-O") or f in ("Debug", "ReleaseSafe", "ReleaseFast", "ReleaseSmall")]
    h = hashlib.sha256("\0".join([str(tc), *opt]).encode()).hexdigest()[:16]
    return ctx.zig_global_cache / f".wasmops-warm-{h}"


def announce_first_build(ctx: BuildContext, tc: Toolchain, flags: list[str], message: str) -> Path:
    """Tell the user a slow first build is coming when the zig cache has not seen these flags yet.

    Returns the marker file to create after the build succeeds.
    """
    marker = _marker(ctx, tc, flags)
    if not marker.exists():
        ctx.say(f"{message} (cached in {ctx.zig_global_cache}; later builds take about a second)")
    return marker


def mark_warm(marker: Path) -> None:
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass
