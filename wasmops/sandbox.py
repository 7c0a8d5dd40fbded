"""The one wasmtime runner, shared by ``wasmops test`` and the host.

Every run gets a fresh Store with fuel, a memory cap, an epoch (wall-clock) deadline and a bounded
stdout. Compiled modules are cached on disk by digest (``Module.serialize``), and a ``Prepared``
module keeps one ``InstancePre`` that is reused for every run::

    >>> from wasmops.sandbox import Sandbox, RunLimits
    >>> sb = Sandbox()
    >>> import wasmtime
    >>> prep = sb.prepare(sb.compile(wasmtime.wat2wasm('(module (memory (export "memory") 1) (func (export "_start")))')))
    >>> r = sb.run(prep, limits=RunLimits(fuel=1000))
    >>> r.ok, r.exit_code, r.peak_memory
    (True, 0, 65536)
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import wasmtime
from wasmtime import _ffi as ffi

from .errors import SandboxError, SpecError

WASM_PAGE = 65536
EPOCH_TICK_MS = 5

# Reasons a run can fail, used in test tables, host error responses and metrics labels.
REASON_FUEL = "out_of_fuel"
REASON_TIMEOUT = "timeout"
REASON_STACK = "stack_overflow"
REASON_MEMORY = "memory_limit"
REASON_STDOUT = "stdout_limit"
REASON_EXIT = "exit_nonzero"
REASON_TRAP = "trap"
REASON_LINK = "link_error"


@dataclass(frozen=True)
class RunLimits:
    """Limits for one run. ``memory`` and ``max_stdout`` are bytes."""

    fuel: int = 50_000_000
    memory: int = 16 * 2**20
    timeout_ms: int = 2000
    max_stdout: int = 2**20


@dataclass
class RunResult:
    """What one run did. ``reason`` is None on success (exit code 0)."""

    exit_code: int | None
    stdout: bytes
    stderr: bytes
    fuel_used: int
    peak_memory: int
    duration_s: float
    reason: str | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.reason is None and self.exit_code == 0


@dataclass
class Prepared:
    """A compiled module with its imports resolved once (an ``InstancePre``)."""

    module: wasmtime.Module
    pre: wasmtime.InstancePre
    digest: str | None = None
    exports_memory: bool = True


class _OutFile:
    """Per-thread stdout/stderr files on tmpfs, watched by the ticker so they stay bounded.

    wasmtime-py's ``stdout_custom`` runs the Python callback on a tokio worker thread: it costs
    ~240 µs per run here and can panic at interpreter exit. A file on tmpfs costs ~15 µs. The
    epoch ticker truncates a file that grows past its cap, so a runaway writer cannot fill RAM.
    """

    _dir = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()

    def __init__(self, kind: str, limit: int):
        self.path = os.path.join(self._dir, f"wasmops-{os.getpid()}-{threading.get_ident()}.{kind}")
        self.limit = limit
        self.overflow = False

    def check(self) -> None:
        """Called from the ticker thread: cut the file back if it grew past the cap."""
        try:
            if os.stat(self.path).st_size > self.limit:
                self.overflow = True
                os.truncate(self.path, self.limit + 1)
        except OSError:
            pass

    def read(self) -> bytes:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return b""
        try:
            size = os.fstat(fd).st_size
            data = os.read(fd, min(size, self.limit + 1)) if size else b""
        finally:
            os.close(fd)
        if len(data) > self.limit:
            self.overflow = True
        return data[: self.limit]


class _EpochTicker:
    """One daemon thread per engine that advances the epoch every ``EPOCH_TICK_MS``."""

    def __init__(self, engine: wasmtime.Engine):
        self._engine = engine
        self._stop = threading.Event()
        self.watched: set[_OutFile] = set()
        self._thread = threading.Thread(target=self._loop, name="wasmops-epoch", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(EPOCH_TICK_MS / 1000):
            self._engine.increment_epoch()
            for f in list(self.watched):
                f.check()

    def stop(self) -> None:
        self._stop.set()


def _engine_fingerprint() -> str:
    return f"wasmtime{wasmtime.__version__ if hasattr(wasmtime, '__version__') else ''}-fuel-epoch-v1"


class Sandbox:
    """A wasmtime engine with fuel and epoch interruption, plus an optional on-disk compile cache."""

    def __init__(self, *, cache_dir: str | Path | None = None, max_wasm_stack: int = 512 * 1024):
        cfg = wasmtime.Config()
        cfg.consume_fuel = True
        cfg.epoch_interruption = True
        cfg.max_wasm_stack = max_wasm_stack
        cfg.cranelift_opt_level = "speed"
        self.engine = wasmtime.Engine(cfg)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._ticker = _EpochTicker(self.engine)
        self.compiles = 0  # how many times a module was compiled from wasm (not loaded from cache)

    def close(self) -> None:
        self._ticker.stop()

    # -- compile -----------------------------------------------------------------------------
    def _cache_path(self, digest: str) -> Path | None:
        if not self.cache_dir:
            return None
        hexd = digest.split(":", 1)[-1]
        tag = hashlib.sha256(_engine_fingerprint().encode()).hexdigest()[:12]
        return self.cache_dir / f"{hexd}.{tag}.cwasm"

    def compile(self, wasm: bytes, digest: str | None = None, *, where: str | None = None) -> wasmtime.Module:
        """Compile ``wasm`` or load its precompiled form from the cache (keyed by its sha256).

        Only bytes this process serialized itself are ever deserialized: the cache lives in the
        workspace and is keyed by the digest of the wasm we verified.
        """
        digest = digest or "sha256:" + hashlib.sha256(wasm).hexdigest()
        path = self._cache_path(digest)
        if path is not None and path.exists():
            try:
                return wasmtime.Module.deserialize_file(self.engine, str(path))
            except wasmtime.WasmtimeError:
                path.unlink(missing_ok=True)  # stale or corrupt: compile again
        try:
            module = wasmtime.Module(self.engine, wasm)
        except wasmtime.WasmtimeError as exc:
            raise SpecError(f"not a valid wasm module: {str(exc).splitlines()[0]}", where=where) from exc
        self.compiles += 1
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
            tmp.write_bytes(module.serialize())
            os.replace(tmp, path)
        return module

    def prepare(self, module: wasmtime.Module, digest: str | None = None) -> Prepared:
        """Resolve the module's imports against WASI once; runs reuse the ``InstancePre``."""
        linker = wasmtime.Linker(self.engine)
        linker.define_wasi()
        try:
            pre = linker.instantiate_pre(module)
        except wasmtime.WasmtimeError as exc:
            raise SandboxError(f"cannot link module: {str(exc).splitlines()[0]}", where=digest) from exc
        has_mem = any(e.name == "memory" for e in module.exports)
        return Prepared(module=module, pre=pre, digest=digest, exports_memory=has_mem)

    def load(self, wasm: bytes, digest: str | None = None, *, where: str | None = None) -> Prepared:
        return self.prepare(self.compile(wasm, digest, where=where), digest)

    # -- run ---------------------------------------------------------------------------------
    def run(
        self,
        prepared: Prepared,
        *,
        stdin: bytes = b"",
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        limits: RunLimits = RunLimits(),
        program_name: str = "module",
    ) -> RunResult:
        store = wasmtime.Store(self.engine)
        store.set_fuel(limits.fuel)
        store.set_epoch_deadline(max(1, -(-limits.timeout_ms // EPOCH_TICK_MS)) + 1)
        store.set_limits(memory_size=limits.memory)
        out, err = _OutFile("out", limits.max_stdout), _OutFile("err", 64 * 1024)
        wasi = wasmtime.WasiConfig()
        wasi.argv = [program_name, *(args or [])]
        if env:
            wasi.env = sorted(env.items())
        _set_stdin_bytes(wasi, stdin)
        wasi.stdout_file = out.path
        wasi.stderr_file = err.path
        store.set_wasi(wasi)
        watched = self._ticker.watched
        watched.add(out)
        watched.add(err)

        exit_code: int | None = None
        reason: str | None = None
        message = ""
        instance = None
        t0 = time.perf_counter()
        try:
            instance = prepared.pre.instantiate(store)
            start = instance.exports(store).get("_start")
            if start is None:
                raise SandboxError("module has no _start export; it is not a WASI command", where=prepared.digest)
            start(store)
            exit_code = 0
        except wasmtime.ExitTrap as exc:
            exit_code = exc.code
        except wasmtime.Trap as exc:
            reason, message = _trap_reason(exc)
        except wasmtime.WasmtimeError as exc:
            reason, message = REASON_TRAP, str(exc).splitlines()[0]
        duration = time.perf_counter() - t0
        watched.discard(out)
        watched.discard(err)
        stdout = out.read()

        fuel_used = limits.fuel - _remaining_fuel(store)
        peak = _memory_size(store, instance)
        if out.overflow:
            reason, message = REASON_STDOUT, f"stdout exceeded {limits.max_stdout} bytes"
        elif reason is None and exit_code not in (0, None) and _near_limit(peak, limits.memory):
            reason, message = REASON_MEMORY, f"memory limit of {limits.memory} bytes reached"
        elif reason == REASON_TRAP and _near_limit(peak, limits.memory):
            reason, message = REASON_MEMORY, f"memory limit of {limits.memory} bytes reached ({message})"
        elif reason is None and exit_code not in (0, None):
            reason, message = REASON_EXIT, f"exited with code {exit_code}"
        if instance is None and reason == REASON_TRAP and "memory" in message and "limit" in message.lower():
            reason = REASON_MEMORY
        stderr = err.read() if (reason or exit_code) else b""  # only failures report stderr
        return RunResult(
            exit_code=exit_code, stdout=stdout, stderr=stderr, fuel_used=fuel_used,
            peak_memory=peak, duration_s=duration, reason=reason, message=message,
        )


def _near_limit(peak: int, limit: int) -> bool:
    """True when a failed run ended with memory within 16 pages (1 MiB) of the cap, and above half of it.

    wasmtime's C API has no resource-limiter callback: a refused ``memory.grow`` just returns -1
    to the guest, which then traps or exits. Ending that close to the cap is how we tell.
    """
    return peak + 16 * WASM_PAGE > limit and peak >= limit // 2


def _trap_reason(exc: wasmtime.Trap) -> tuple[str, str]:
    code = exc.trap_code
    first = str(exc.message if hasattr(exc, "message") else exc).splitlines()[0]
    if code == wasmtime.TrapCode.OUT_OF_FUEL:
        return REASON_FUEL, "fuel exhausted"
    if code == wasmtime.TrapCode.INTERRUPT:
        return REASON_TIMEOUT, "wall-clock deadline exceeded"
    if code == wasmtime.TrapCode.STACK_OVERFLOW:
        return REASON_STACK, "call stack exhausted"
    name = code.name.lower() if code is not None else "unknown"
    return REASON_TRAP, f"trap: {name}: {first}"


def _remaining_fuel(store: wasmtime.Store) -> int:
    try:
        return store.get_fuel()
    except wasmtime.WasmtimeError:
        return 0


def _memory_size(store: wasmtime.Store, instance) -> int:
    """Linear memory only grows, so its final size in a fresh store is the run's peak."""
    if instance is None:
        return 0
    mem = instance.exports(store).get("memory")
    if isinstance(mem, wasmtime.Memory):
        return mem.data_len(store)
    return 0


def _set_stdin_bytes(wasi: wasmtime.WasiConfig, data: bytes) -> None:
    """wasmtime-py has no helper for stdin from bytes; the C API takes ownership of the vector."""
    vec = ffi.wasm_byte_vec_t()
    buf = (ffi.wasm_byte_t * len(data)).from_buffer_copy(data) if data else None
    ffi.wasm_byte_vec_new(ctypes.byref(vec), len(data), buf)
    ffi.wasi_config_set_stdin_bytes(wasi.ptr(), ctypes.byref(vec))


_default: Sandbox | None = None
_default_lock = threading.Lock()


def default_sandbox() -> Sandbox:
    """A process-wide sandbox without a disk cache (for tests and one-off runs)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Sandbox()
        return _default
