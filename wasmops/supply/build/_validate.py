"""Is this a WebAssembly binary the host would run? The same checks as the sandbox's and the
policy's (``wasmops.wasm.shape``: the header, the tables, the engine's features), as a BuildFailed."""

from __future__ import annotations

from wasmops.errors import BuildFailed, SpecError
from wasmops.wasm.foreign import describe_wasm
from wasmops.wasm.shape import CORE_VERSION, MAGIC, check_header, check_shape, explain_invalid, refusal, validation_engine  # noqa: F401


def validate_wasm(data: bytes, *, where: str) -> None:
    """Raise BuildFailed unless ``data`` is a valid core WebAssembly module the host would run."""
    import wasmtime

    try:
        check_header(data, where=where)
        check_shape(data, where=where)
    except SpecError as exc:
        raise BuildFailed(exc.message, where=where, hint=exc.hint) from None
    try:
        wasmtime.Module.validate(validation_engine(), data)
    except wasmtime.WasmtimeError as exc:
        raise BuildFailed(refusal(str(exc))[:500], where=where, hint=describe_wasm(data)) from exc
