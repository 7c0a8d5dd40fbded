"""Is this a WebAssembly binary the host would run? The same checks as the sandbox's and the
policy's (``wasmops.wasm.shape``: the header, the tables, the engine's features), as a BuildFailed."""

from __future__ import annotations

from wasmops.errors import BuildFailed, SpecError
from wasmops.wasm.foreign import describe_wasm
from wasmops.wasm.shape import COMPONENT_VERSION, CORE_VERSION, MAGIC, check_header, check_shape, explain_invalid, refusal, validation_engine  # noqa: F401


def validate_wasm(data: bytes, *, where: str) -> None:
    """Raise BuildFailed unless ``data`` is a valid core WebAssembly module or WASI 0.2 command
    component the host would run."""
    import wasmtime

    try:
        check_header(data, where=where)
        if data[4:8] == COMPONENT_VERSION:
            return _validate_component(data, where)
        check_shape(data, where=where)
    except SpecError as exc:
        raise BuildFailed(exc.message, where=where, hint=exc.hint) from None
    try:
        wasmtime.Module.validate(validation_engine(), data)
    except wasmtime.WasmtimeError as exc:
        raise BuildFailed(refusal(str(exc))[:500], where=where, hint=describe_wasm(data)) from exc


def _validate_component(data: bytes, where: str) -> None:
    """A component is valid when wasmtime compiles it (there is no validate-only call for components),
    and runs here when it is a command (exports ``wasi:cli/run@0.2.x``)."""
    import wasmtime
    from wasmtime.component import Component

    from wasmops.wasm.component_interface import is_command, not_command

    try:
        comp = Component(validation_engine(), data)
    except wasmtime.WasmtimeError as exc:
        raise BuildFailed(refusal(str(exc)).replace("wasm module", "WebAssembly component")[:500], where=where) from exc
    exports = list(comp.type.exports(validation_engine()))
    if not is_command(exports):
        raise BuildFailed(not_command(exports), where=where,
                          hint="build a command: for Rust a [[bin]] crate for wasm32-wasip2, for wasm-tools a world "
                               "that exports wasi:cli/run@0.2.0")
