"""A WASI 0.2 component's imports, exports and memories, read off the binary without compiling it,
and what each WASI 0.2 interface it imports means in the capabilities of WASI preview 1.

The policy (``wasmops check``, a release's policy step, the host's admission) judges a core module
by its ``wasi_snapshot_preview1`` imports; a component imports interfaces instead
(``wasi:filesystem/types@0.2.0``). Each interface is mapped to the preview 1 function that grants
the same capability (:data:`P1_CAPABILITY`), so one policy file judges both, and a denial names the
interface::

    >>> p1_capability("wasi:sockets/tcp@0.2.3"), p1_capability("wasi:cli/stdout@0.2.0")
    ('wasi_snapshot_preview1.sock_accept', 'wasi_snapshot_preview1.fd_write')
    >>> p1_capability("wasi:http/outgoing-handler@0.2.0") is None    # not what the host provides
    True
    >>> is_command(["wasi:cli/run@0.2.0"]), is_command(["wasi:http/incoming-handler@0.2.0"])
    (True, False)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wasmops.wasm.interface import _limits
from wasmops.wasm.shape import COMPONENT_VERSION, _leb, _sections
PAGE = 65536
RUN_EXPORT = "wasi:cli/run"
_CORE_MODULE, _COMPONENT, _IMPORT, _EXPORT = 1, 4, 10, 11
_MEMORY = 5                                  # a core module's memory section
_WASI_02 = re.compile(r"^wasi:([a-z0-9-]+)/([a-z0-9-]+)@0\.2\.\d+(?:[-+].*)?$")

#: WASI 0.2 interface (package/interface) -> the preview 1 function granting the same capability.
#: The policy's allowImportModules and denyImports are read against these (and against the
#: interface's own name, so a rule may also name it: ``wasi:sockets/*``).
P1_CAPABILITY = {
    "cli/environment": "environ_get", "cli/exit": "proc_exit", "cli/stdin": "fd_read",
    "cli/stdout": "fd_write", "cli/stderr": "fd_write",
    **{f"cli/terminal-{t}": "fd_fdstat_get" for t in ("input", "output", "stdin", "stdout", "stderr")},
    "io/error": "fd_write", "io/streams": "fd_write", "io/poll": "poll_oneoff",
    "clocks/wall-clock": "clock_time_get", "clocks/monotonic-clock": "clock_time_get",
    "clocks/timezone": "clock_time_get",
    "random/random": "random_get", "random/insecure": "random_get", "random/insecure-seed": "random_get",
    "filesystem/types": "path_open", "filesystem/preopens": "fd_prestat_get",
    **{f"sockets/{s}": "sock_accept" for s in ("network", "instance-network", "tcp", "tcp-create-socket", "udp",
                                                "udp-create-socket", "ip-name-lookup")},
}
PROVIDED = "WASI 0.2 (0.2.x) wasi:cli, wasi:io, wasi:clocks, wasi:random, wasi:filesystem and wasi:sockets"


def is_component(data: bytes) -> bool:
    return data[4:8] == COMPONENT_VERSION and data[:4] == b"\0asm"


def p1_capability(interface: str) -> str | None:
    """``wasi_snapshot_preview1.<fn>`` for a WASI 0.2 interface the host provides, else None."""
    m = _WASI_02.match(interface)
    fn = P1_CAPABILITY.get(f"{m.group(1)}/{m.group(2)}") if m else None
    return f"wasi_snapshot_preview1.{fn}" if fn else None


def is_command(exports: list[str]) -> bool:
    """Exports ``wasi:cli/run@0.2.x``: a WASI 0.2 command, which wasmops runs."""
    return any(e.startswith(RUN_EXPORT + "@0.2.") for e in exports)


def run_export(exports: list[str]) -> str | None:
    return next((e for e in exports if e.startswith(RUN_EXPORT + "@0.2.")), None)


def not_command(exports: list[str]) -> str:
    """Why a component that is not a command is refused, naming what it exports."""
    said = ", ".join(exports[:6]) + (", …" if len(exports) > 6 else "") if exports else "nothing"
    what = ""
    if any(e.startswith("wasi:http/incoming-handler@") for e in exports):
        what = " (a wasi:http/proxy component, served by an HTTP host such as `wasmtime serve` or Spin)"
    elif exports:
        what = " (a library component: a reactor)"
    return (f"a WASI 0.2 component that exports {said}{what}, not {RUN_EXPORT}@0.2.x: wasmops runs commands, "
            "whose run reads the request on stdin and writes the answer on stdout")


@dataclass(frozen=True)
class ComponentInterface:
    imports: list[str]          # top-level import names, e.g. "wasi:cli/stdout@0.2.0"
    exports: list[str]          # top-level export names, e.g. "wasi:cli/run@0.2.0"
    initial_memory: int         # bytes: the initial sizes of the memories its core modules define, summed


def component_interface(wasm: bytes) -> ComponentInterface:
    """The interface of a valid component (a malformed one raises ValueError or IndexError)."""
    imports: list[str] = []
    exports: list[str] = []
    for sid, body in _sections(wasm):
        if sid == _IMPORT:
            imports += [name for name in _names(body, _skip_externdesc)]
        elif sid == _EXPORT:
            exports += [name for name in _names(body, _skip_export_rest)]
    return ComponentInterface(imports=imports, exports=exports, initial_memory=_initial_memory(wasm))


def _initial_memory(wasm: bytes) -> int:
    pages = 0
    for sid, body in _sections(wasm):
        if sid == _CORE_MODULE:
            pages += sum(_memory_minimums(body))
        elif sid == _COMPONENT:
            pages += _initial_memory(body) // PAGE
    return pages * PAGE


def _memory_minimums(module: bytes) -> list[int]:
    for sid, body in _sections(module):
        if sid == _MEMORY:
            count, pos = _leb(body, 0)
            out = []
            for _ in range(count):
                minimum, pos = _limits(body, pos)
                out.append(minimum)
            return out
    return []


def _string(body: bytes, pos: int) -> tuple[str, int]:
    size, pos = _leb(body, pos)
    return body[pos:pos + size].decode("utf-8", errors="replace"), pos + size


def _names(body: bytes, skip):
    count, pos = _leb(body, 0)
    for _ in range(count):
        form = body[pos]
        name, pos = _string(body, pos + 1)
        if form == 0x01:                 # a version suffix (or, in older binaries, a URL) follows
            _, pos = _string(body, pos)
        elif form != 0x00:
            raise ValueError(f"import/export name form {form:#x}")
        pos = skip(body, pos)
        yield name


def _skip_externdesc(body: bytes, pos: int) -> int:
    kind = body[pos]
    if kind == 0x00:                     # core module: 0x11 and a core type index
        return _leb(body, pos + 2)[1]
    if kind in (0x01, 0x04, 0x05):       # func, component, instance: a type index
        return _leb(body, pos + 1)[1]
    if kind == 0x03:                     # type: (eq i) or (sub resource)
        return _leb(body, pos + 2)[1] if body[pos + 1] == 0x00 else pos + 2
    raise ValueError(f"extern kind {kind:#x}")


def _skip_export_rest(body: bytes, pos: int) -> int:
    sort = body[pos]
    pos += 2 if sort == 0x00 else 1      # a core sort has one more byte
    _, pos = _leb(body, pos)             # the index
    if body[pos] == 0x01:                # an ascribed type follows
        return _skip_externdesc(body, pos + 1)
    return pos + 1
