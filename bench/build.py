"""Build times per language: cold (empty zig cache), warm (zig cache filled), and a build-cache hit.

    python bench/build.py            # all examples
    python bench/build.py greet-c    # one

Cold and warm builds bypass the build-output cache (``use_cache=False``), so the compiler runs
both times; the cold one starts from an empty zig cache in a temporary directory. The last column
is a third build with the build-output cache on, which returns without running the compiler.
When clang + wasi-libc are installed, C is measured with both clang and zig cc.
It also checks that the cold and warm builds, and a build with the user's usual zig cache, give
byte-identical output (the zig cache location must not leak into the binary).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from wasmops.supply.build import _toolchain, build, detect_toolchains
from wasmops.config import Settings
from wasmops.supply.source import load_module_source

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def bench(name: str) -> dict:
    src = load_module_source(EXAMPLES / name)
    with tempfile.TemporaryDirectory(prefix="wasmops-bench-") as d:
        tmp = Path(d)
        settings = Settings(home=tmp / "ws", zig_cache=tmp / "zig-cache")
        notes: list[str] = []
        cold = build(src, tmp / "cold", settings=settings, use_cache=False, progress=notes.append)
        warm = build(src, tmp / "warm", settings=settings, use_cache=False)
        build(src, tmp / "fill", settings=settings)  # fill the build-output cache
        t0 = time.perf_counter()
        hit = build(src, tmp / "hit", settings=settings)
        hit_s = time.perf_counter() - t0
        usual = build(src, tmp / "usual", settings=Settings(home=tmp / "ws2"), use_cache=False)
    assert hit.cached and not (cold.cached or warm.cached)
    return {
        "module": name, "language": src.language, "toolchain": cold.toolchain,
        "cold_s": cold.duration_s, "warm_s": warm.duration_s, "hit_ms": hit_s * 1000, "size": cold.size,
        "same": len({cold.sha256, warm.sha256, hit.sha256, usual.sha256}) == 1, "sha": cold.sha256[:12],
        "first_build_notice": any("first time" in n for n in notes),
    }


def runs(names: list[str]) -> list[tuple[str, str | None]]:
    """(example, C toolchain choice): C examples once per installed C toolchain."""
    out: list[tuple[str, str | None]] = []
    for name in names:
        if load_module_source(EXAMPLES / name).language == "c" and _toolchain.find_clang_wasi() is not None:
            out += [(name, "clang"), (name, "zig")]
        else:
            out.append((name, None))
    return out


def main(argv: list[str]) -> int:
    names = argv or sorted(p.name for p in EXAMPLES.iterdir() if (p / "module.yaml").is_file())
    tools = detect_toolchains()
    print("toolchains:", ", ".join(f"{k}={v['toolchain'] or 'missing'}" for k, v in tools.items()))
    header = f"{'module':<11} {'lang':<5} {'toolchain':<26} {'cold s':>7} {'warm s':>7} {'hit ms':>7} {'bytes':>7}  same digest"
    print(header)
    print("-" * len(header))
    ok = True
    for name, choice in runs(names):
        if choice:
            os.environ["WASMOPS_C_TOOLCHAIN"] = choice
        r = bench(name)
        os.environ.pop("WASMOPS_C_TOOLCHAIN", None)
        ok &= r["same"]
        print(f"{r['module']:<11} {r['language']:<5} {r['toolchain']:<26} {r['cold_s']:>7.2f} {r['warm_s']:>7.2f} "
              f"{r['hit_ms']:>7.1f} {r['size']:>7}  {'yes' if r['same'] else 'NO'} ({r['sha']})", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
