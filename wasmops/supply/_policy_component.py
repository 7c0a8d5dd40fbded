"""The policy over a WASI 0.2 component: its facts read off the binary, and its imports judged in
the capabilities of WASI preview 1 (``wasmops.wasm.component_interface.P1_CAPABILITY``), so one
policy file judges core modules and components alike and a denial names the interface::

    >>> from wasmops.supply.policy import LevelRules
    >>> rules = LevelRules(allowImportModules=["wasi_snapshot_preview1"], denyImports=["wasi_snapshot_preview1.sock_*"])
    >>> import_reasons(["wasi:cli/stdout@0.2.0", "wasi:sockets/tcp@0.2.0"], rules)
    ["import wasi:sockets/tcp@0.2.0 is forbidden by rule 'wasi_snapshot_preview1.sock_*' (a WASI 0.2 interface: \
its capability is wasi_snapshot_preview1.sock_accept's)"]
"""

from __future__ import annotations

import fnmatch

from wasmops.errors import SpecError
from wasmops.wasm.component_interface import PROVIDED, component_interface, is_command, not_command, p1_capability


def inspect_component(wasm: bytes, where: str | None, custom_bytes: int) -> dict:
    """The facts ``policy.inspect_module`` gives for a core module, for a component: read off the
    binary, without a compile (the sandbox's compile, in ``wasmops test`` and the host, validates it)."""
    try:
        iface = component_interface(wasm)
    except (IndexError, ValueError) as exc:
        raise SpecError(f"not a valid WebAssembly component: its import or export section cannot be read ({exc})",
                        where=where) from None
    return {"size": len(wasm), "imports": iface.imports, "exports": iface.exports,
            "initial_memory": iface.initial_memory, "custom_section_bytes": custom_bytes, "foreign": None,
            "component": True}


def import_reasons(imports: list[str], rules) -> list[str]:
    """Why the imports of a component are denied at a level with these ``rules``."""
    allowed = rules.allow_import_modules
    out: list[str] = []
    denied: dict[tuple[str, str], list[str]] = {}
    for imp in imports:
        cap = p1_capability(imp)
        if cap is None:
            out.append(f"import {imp} is not an interface the host provides (it provides {PROVIDED})")
            continue
        if cap.split(".", 1)[0] not in allowed:
            out.append(f"import {imp} (a WASI 0.2 interface: its capability is {cap}'s) is outside the allowed "
                       f"modules [{', '.join(allowed)}]")
            continue
        pat = next((p for p in rules.deny_imports if fnmatch.fnmatchcase(cap, p) or fnmatch.fnmatchcase(imp, p)), None)
        if pat is not None:
            denied.setdefault((pat, cap), []).append(imp)
    return out + [_denied(imps, pat, cap) for (pat, cap), imps in denied.items()]


def _denied(imps: list[str], pat: str, cap: str) -> str:
    """One reason per rule and capability: CPython's componentize-py build imports seven wasi:sockets
    interfaces, which said one thing seven times."""
    said = f"import {imps[0]}" if len(imps) == 1 else (
        f"{len(imps)} imports ({', '.join(imps[:3])}{', …' if len(imps) > 3 else ''})")
    what = "is forbidden by rule {} (a WASI 0.2 interface: its" if len(imps) == 1 else \
        "are forbidden by rule {} (WASI 0.2 interfaces: their"
    return f"{said} {what.format(repr(pat))} capability is {cap}'s)"


def export_reasons(exports: list[str], required: list[str]) -> list[str]:
    """A required ``_start`` is a command's ``wasi:cli/run@0.2.x``; any other required export is by name."""
    out = []
    for exp in required:
        if exp == "_start":
            if not is_command(exports):
                out.append(f"required export '_start' is missing: {not_command(exports)}")
        elif exp not in exports:
            out.append(f"required export {exp!r} is missing")
    return out
