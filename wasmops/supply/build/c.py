"""C to wasm32-wasi: Debian clang + wasi-libc when installed (0.2 s), else ``python -m ziglang cc``.

``zig cc`` builds wasi-libc into the zig global cache on its first run (40-60 s), so that run
announces itself through ``progress``. ``WASMOPS_C_TOOLCHAIN=zig|clang`` forces one choice.
"""

from __future__ import annotations

from pathlib import Path

from wasmops.errors import ConfigError, ToolchainMissing
from wasmops.supply.source import ModuleSource
from wasmops.supply.build import _toolchain as T
from wasmops.supply.build._run import run_tool

LANGUAGE = "c"
#: Files whose bytes go into the cache key (headers may be included without being listed).
SUFFIXES = (".c", ".h", ".inc")
#: Shadow-stack size. wasm-ld's default is 64 KiB and zig cc's is 16 MiB (which makes every instance
#: start with 16 MiB of linear memory); one fixed size keeps memory limits independent of the toolchain.
STACK_BYTES = 1 << 20
#: Deterministic flags: optimise, strip (no names/debug info), no compiler ident. wasm-ld writes no
#: build id unless asked (and wasm-ld 14, Debian bookworm's, rejects ``--build-id=none``).
COMMON_FLAGS = ["-O2", "-s", "-fno-ident", f"-Wl,-z,stack-size={STACK_BYTES}", "-fno-color-diagnostics"]


def find_toolchain(settings=None) -> T.Toolchain:
    from wasmops.config import current

    choice = (settings or current()).c_toolchain.strip().lower() or "auto"
    if choice not in ("auto", "clang", "zig"):
        raise ConfigError(f"WASMOPS_C_TOOLCHAIN={choice!r}: expected auto, clang or zig")
    if choice in ("auto", "clang"):
        found = T.find_clang_wasi()
        if found:
            clang, sysroot, version = found
            return T.Toolchain(LANGUAGE, "clang", version, (clang,), {"sysroot": sysroot})
        if choice == "clang":
            raise ToolchainMissing("WASMOPS_C_TOOLCHAIN=clang, but clang cannot build for wasm32-wasi here",
                                   hint=T.CLANG_HINT)
    cmd = T.zig_command()
    if cmd is None:
        raise ToolchainMissing("building C needs a wasm32-wasi C compiler; neither zig nor clang with wasi-libc "
                               "is installed", hint=f"{T.ZIG_HINT}; {T.CLANG_HINT}")
    _, version = T.find_zig("c", "C")
    return T.Toolchain(LANGUAGE, "zig cc", version, (*cmd, "cc"))


def flags(src: ModuleSource, tc: T.Toolchain) -> list[str]:
    """Compiler flags without paths that differ between checkouts (they are added in compile)."""
    base = ["--target=wasm32-wasi"]
    if tc.name == "clang":
        base.append(f"--sysroot={tc.extra['sysroot']}")
    return [*base, *COMMON_FLAGS, *src.flags]


def compile(src: ModuleSource, tc: T.Toolchain, dest: Path, ctx: T.BuildContext) -> None:
    root = src.root
    assert root is not None
    fl = flags(src, tc)
    units = [s for s in src.sources if s.endswith(".c")]
    if not units:
        units = list(src.sources)
    marker = None
    if tc.name == "zig cc":
        marker = T.announce_first_build(ctx, tc, fl, "compiling wasi-libc for the first time, ~60 s")
    argv = [*tc.argv, *fl, f"-ffile-prefix-map={root}=.", *units, "-o", str(dest)]
    run_tool(argv, cwd=root, ctx=ctx, label=str(tc), where=root / units[0])
    if marker is not None:
        T.mark_warm(marker)
