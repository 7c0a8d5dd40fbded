"""WASI 0.2 command components in the sandbox: compiled, prepared and run under the same limits as
core modules (fuel, memory, the epoch deadline, the stdout cap), with the same ``RunResult``.

A component runs on an engine of its own (:class:`ComponentEngine`, made on first use): the core
engine keeps wasmtime's pooling allocator, while this one makes its memories in
``_component_memory``, which is how a run's peak memory is read back and its cap enforced (a
component does not export its core memory). The sandbox's epoch ticker ticks both engines, so run
deadlines are counted on one clock. A component is a command when it exports ``wasi:cli/run@0.2.x``;
its ``run`` returning ``err`` is exit code 1, and ``wasi:cli/exit`` ``exit(err)`` is exit code 1 too
(WASI 0.2.0 carries no other status), as ``wasmtime run`` reports them.
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime import component as cm

from wasmops.errors import SandboxError, SpecError
from wasmops.wasm import _component_memory as _memory, _deadline
from wasmops.wasm.component_interface import not_command, p1_capability, run_export
from wasmops.wasm.outcome import (REASON_FUEL, REASON_MEMORY, REASON_STACK, REASON_TIMEOUT, REASON_TRAP, RunLimits,
                                  RunResult, classify, trap_message)
from wasmops.wasm.shape import engine_config, refusal

#: What the store's own limiter allows a component's memory: the cap is ``_component_memory``'s.
_LIMITER_MEMORY = 1 << 40


class ComponentEngine:
    """The engine, WASI 0.2 linker and compile cache access for components of one ``Sandbox``."""

    def __init__(self, *, max_wasm_stack: int, ticker, cache=None):
        cfg = engine_config()
        cfg.consume_fuel = True
        cfg.epoch_interruption = True
        cfg.max_wasm_stack = max_wasm_stack
        cfg.cranelift_opt_level = "speed"
        _memory.install(cfg)
        self.engine = wasmtime.Engine(cfg)
        ticker.add_engine(self.engine)
        self.linker = cm.Linker(self.engine)
        self.linker.add_wasip2()
        self.cache = cache

    def compile(self, wasm: bytes, digest: str, *, where: str | None) -> tuple[cm.Component, bool]:
        """The component, from the cache when it holds it; and whether it was compiled here."""
        if self.cache is not None:
            comp = self.cache.load(self.engine, digest, component=True)
            if comp is not None:
                return comp, False
        try:
            comp = cm.Component(self.engine, wasm)
        except wasmtime.WasmtimeError as exc:
            raise SpecError(refusal(str(exc)).replace("wasm module", "WebAssembly component"), where=where) from exc
        if self.cache is not None:
            self.cache.store(digest, comp)
        return comp, True

    def prepare(self, comp: cm.Component, digest: str | None, *, where: str | None) -> "ComponentRun":
        """A command's ``run`` export, looked up once; a SandboxError naming ``where`` for a component
        that is not a command, or imports what the host does not provide."""
        exports = list(comp.type.exports(self.engine))
        name = run_export(exports)
        if name is None:
            raise SandboxError(not_command(exports), where=where or digest,
                               hint="build a command: for Rust a [[bin]] crate for wasm32-wasip2, for wasm-tools a "
                                    "world that exports wasi:cli/run@0.2.0")
        imports = list(comp.type.imports(self.engine))
        foreign = [i for i in imports if p1_capability(i) is None]
        if foreign:
            raise SandboxError(f"cannot link component: it imports {', '.join(foreign[:4])}, which the host does not "
                               "provide (it provides WASI 0.2: wasi:cli, wasi:io, wasi:clocks, wasi:random, "
                               "wasi:filesystem, wasi:sockets)", where=where or digest)
        index = comp.get_export_index("run", comp.get_export_index(name))
        if index is None:
            raise SandboxError(f"{name} has no run function", where=where or digest)
        return ComponentRun(self, comp, index, digest, exports, imports)


@dataclass
class ComponentRun:
    """A prepared command component: what ``Sandbox`` runs instead of an ``InstancePre``."""

    engines: ComponentEngine
    component: cm.Component
    run_index: cm.ExportIndex
    digest: str | None
    exports: list[str]
    imports: list[str]

    @property
    def engine(self) -> wasmtime.Engine:
        return self.engines.engine

    def call(self, ctx) -> int:
        """Instantiate in the store ``ctx`` and call ``run``: its exit code (0 ok, 1 err); an exit
        through ``wasi:cli/exit`` raises ``ExitTrap``, a trap or limit ``WasmtimeError``."""
        inst = ffi.wasmtime_component_instance_t()
        _check(ffi.wasmtime_component_linker_instantiate(self.engines.linker.ptr(), ctx, self.component.ptr(),
                                                         ctypes.byref(inst)))
        func = ffi.wasmtime_component_func_t()
        if not ffi.wasmtime_component_instance_get_func(ctypes.byref(inst), ctx, self.run_index.ptr(),
                                                        ctypes.byref(func)):
            raise wasmtime.WasmtimeError("the run export is not a function")
        out = ffi.wasmtime_component_val_t()
        _check(ffi.wasmtime_component_func_call(ctypes.byref(func), ctx, None, 0, ctypes.byref(out), 1))
        try:
            ok = out.kind == ffi.WASMTIME_COMPONENT_RESULT.value and out.of.result.is_ok
        finally:
            ffi.wasmtime_component_val_delete(ctypes.byref(out))
        return 0 if ok else 1

    def execute(self, store, limits: RunLimits, out, err, watch: _deadline.Watch, keep_stderr: bool) -> RunResult:
        """One run in ``store`` (a ``RawStore`` of this engine, configured by the sandbox)."""
        store.configure(limits.fuel, _LIMITER_MEMORY)
        mem = _memory.begin(limits.memory)
        exit_code, reason, message = None, None, ""
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            exit_code = self.call(store.ctx)
        except wasmtime.ExitTrap as exc:
            exit_code = exc.code
        except wasmtime.WasmtimeError as exc:
            reason, message = error_reason(str(exc))
        duration, cpu = time.perf_counter() - t0, time.thread_time() - c0
        if watch.stopped == _deadline.STOPPED_TIMEOUT:
            exit_code, reason, message = None, REASON_TIMEOUT, "wall-clock deadline exceeded"
        if mem.refused and reason not in (REASON_TIMEOUT, REASON_MEMORY) and (reason or exit_code):
            reason, message = REASON_MEMORY, (f"memory limit of {limits.memory} bytes reached: a memory.grow past it "
                                              "was refused")
            exit_code = None
        stdout = out.read()
        reason, message = classify(reason, message, exit_code, mem.peak, limits, out.overflow, False)
        stderr = err.read() if (reason or exit_code or keep_stderr) else b""
        return RunResult(exit_code=exit_code, stdout=stdout, stderr=stderr, fuel_used=limits.fuel - store.fuel_left(),
                         peak_memory=mem.peak, duration_s=duration, reason=reason, message=message, cpu_s=cpu)


def _check(error) -> None:
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)     # an ExitTrap when the component called exit


def error_reason(text: str) -> tuple[str, str]:
    """A component call's error (wasmtime reports its traps as errors) as the run's reason and message."""
    low = text.lower()
    if "all fuel consumed" in low:
        return REASON_FUEL, "fuel exhausted"
    if "wall-clock deadline" in low or "wasm trap: interrupt" in low:
        return REASON_TIMEOUT, "wall-clock deadline exceeded"
    if "call stack exhausted" in low:
        return REASON_STACK, "call stack exhausted"
    if "exceeds the memory limit" in low or "memory limit of" in low:
        said = next((ln.strip() for ln in text.splitlines() if "wasmops: " in ln), text).split("wasmops: ", 1)[-1]
        return REASON_MEMORY, (f"{said} (module.yaml limits.memory for `wasmops test`; a deployment's is its "
                               "manifest's spec.runtimeConfig.resources.memory)")
    return REASON_TRAP, trap_message(text)
