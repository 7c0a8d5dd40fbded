"""Zig to wasm32-wasi: ``python -m ziglang build-exe -target wasm32-wasi -O ReleaseSmall -fstrip``.

The first listed source is the root file; other sources are files it ``@import``s. Both zig caches
(global and local) live under ``settings.zig_cache_dir``, so no ``.zig-cache`` appears next to
the sources and only the first build (the standard library and compiler-rt for wasm32-wasi) is
slow.

Zig 0.16+ I/O (checked against 0.17.1): ``pub fn main(init: std.process.Init) !u8``, then
``std.Io.File.stdin().readerStreaming(init.io, &buf)`` and ``.interface.allocRemaining(init.gpa,
.limited(n))``; ``std.Io.File.stdout().writerStreaming(init.io, &buf)``, ``.interface.print(...)``
and ``.interface.flush()``. That links ``std.Io.Threaded`` and so imports all of WASI (path_open,
fd_prestat_*, poll_oneoff), which the ``sandboxed`` trust level denies; ``examples/upper-zig``
instead uses ``pub fn main() u8`` with ``std.os.wasi.fd_read``/``fd_write`` and formats with
``std.Io.Writer.fixed(&buf)``, and imports only fd_read, fd_write and proc_exit.
"""

from __future__ import annotations

from pathlib import Path

from wasmops.supply.source import ModuleSource
from wasmops.supply.build import _toolchain as T
from wasmops.supply.build._run import run_tool

LANGUAGE = "zig"
SUFFIXES = (".zig", ".zon")
#: Zig's default stack on wasm32 is 16 MiB, all of it in the initial linear memory; 1 MiB as for C.
STACK_BYTES = 1 << 20
COMMON_FLAGS = ["-target", "wasm32-wasi", "-O", "ReleaseSmall", "-fstrip", "--stack", str(STACK_BYTES),
                "--color", "off"]


def find_toolchain(settings=None) -> T.Toolchain:
    cmd, version = T.find_zig(LANGUAGE, "Zig")
    return T.Toolchain(LANGUAGE, "zig build-exe", version, (*cmd, "build-exe"))


def flags(src: ModuleSource, tc: T.Toolchain) -> list[str]:
    return [*COMMON_FLAGS, *src.flags]


def compile(src: ModuleSource, tc: T.Toolchain, dest: Path, ctx: T.BuildContext) -> None:
    root = src.root
    assert root is not None
    fl = flags(src, tc)
    marker = T.announce_first_build(ctx, tc, fl, "compiling the Zig standard library for wasm32-wasi "
                                                 "for the first time, ~20 s")
    argv = [*tc.argv, *fl, "--cache-dir", str(ctx.zig_local_cache), "--global-cache-dir", str(ctx.zig_global_cache),
            "--name", src.name, f"-femit-bin={dest}", src.sources[0]]
    run_tool(argv, cwd=root, ctx=ctx, label=str(tc), where=root / src.sources[0])
    T.mark_warm(marker)
