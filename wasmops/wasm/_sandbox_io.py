"""Module I/O for the sandbox: private per-thread stdout/stderr files on tmpfs, and stdin from bytes.

The files live in a 0700 directory of this process (``/dev/shm/wasmops-io-<pid>-*``), are 0600,
are emptied after every run and are removed when the process exits; directories left by a process
that was killed (``kill -9``) are swept by the next process that creates its own.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import tempfile
import threading

import wasmtime
from wasmtime import _ffi as ffi

from wasmops.procs import pid_alive
from wasmops.wasm import _cdirect as _c
from wasmops.wasm.shape import MAX_TABLES, TABLE_ELEMENTS


def _io_base() -> str:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()


_IO_PREFIX = "wasmops-io-"



def _sweep_stale_io_dirs(base: str) -> None:
    """Remove I/O directories left by processes that died without cleaning up (kill -9)."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for n in names:
        if n.startswith(_IO_PREFIX):
            pid = n[len(_IO_PREFIX):].split("-", 1)[0]
        elif n.startswith("wasmops-") and n.endswith((".out", ".err")):  # per-thread files of older versions
            pid = n[len("wasmops-"):].split("-", 1)[0]
        else:
            continue
        if pid.isdigit() and not pid_alive(int(pid)):
            path = os.path.join(base, n)
            shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else _unlink(path)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class IODir:
    """This process's private (0700) directory for module stdout/stderr, removed at exit."""

    _lock = threading.Lock()
    _path: str | None = None

    @classmethod
    def get(cls) -> str:
        with cls._lock:
            if cls._path is None or not os.path.isdir(cls._path):
                base = _io_base()
                _sweep_stale_io_dirs(base)
                cls._path = tempfile.mkdtemp(prefix=f"{_IO_PREFIX}{os.getpid()}-", dir=base)  # mode 0700
                atexit.register(shutil.rmtree, cls._path, True)
            return cls._path

    @classmethod
    def remove(cls) -> None:
        with cls._lock:
            if cls._path:
                shutil.rmtree(cls._path, ignore_errors=True)
                cls._path = None


FIRST_READ = 16384
_PAGE = 4096
_PUNCH_HOLE, _KEEP_SIZE = 0x02, 0x01            # fallocate(2) modes: free a range, keep the file's size
_libc = ctypes.CDLL(None, use_errno=True)


class OutFile:
    """Per-thread stdout/stderr files on tmpfs, watched by the ticker so they stay bounded.

    wasmtime-py's ``stdout_custom`` runs the Python callback on a tokio worker thread: it costs
    ~240 µs per run here and can panic at interpreter exit; a C-level writer (libc ``write`` to a
    memfd as the custom callback) measured slower than the file too (docs/decisions.md, issue 14).
    A file on tmpfs costs ~15 µs. The epoch ticker cuts back a file that grows past its cap, so a
    runaway writer cannot fill RAM: stdout is truncated (its head is the answer, and a run past the
    cap fails); stderr loses its head instead (``keep_tail``: a panic's message comes last, after
    whatever the program logged). The files are 0600 in a 0700 directory of this process, emptied
    after every run (nothing of a response stays on disk) and removed with the directory when the
    process exits. Each thread keeps its two files and one open descriptor each (``for_thread``):
    a run costs a ``pread`` and an ``ftruncate`` per file, no open/close.
    """

    _local = threading.local()

    def __init__(self, kind: str, limit: int, keep_tail: bool = False):
        self.dir = IODir.get()
        self.path = os.path.join(self.dir, f"{threading.get_ident()}.{kind}")
        self.cpath = ctypes.c_char_p(os.fsencode(self.path))
        self.limit = limit
        self.keep_tail = keep_tail
        self.overflow = self.truncated = False
        self.dropped = 0
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)

    @classmethod
    def for_thread(cls, kind: str, limit: int, keep_tail: bool = False) -> "OutFile":
        """This thread's file of ``kind``, reset for a new run with cap ``limit``. ``keep_tail``: past
        the cap keep the last ``limit`` bytes (stderr, whose end says why a run failed), not the first."""
        f = getattr(cls._local, kind, None)
        if f is None or f.dir != IODir._path:   # first run on this thread, or the directory was removed
            if f is not None:
                os.close(f.fd)
            f = cls(kind, limit, keep_tail)
            setattr(cls._local, kind, f)
        f.limit, f.overflow, f.truncated, f.dropped = limit, False, False, 0
        return f

    def check(self) -> None:
        """Called from the ticker thread: cut the file back if it grew past the cap."""
        try:
            size = os.fstat(self.fd).st_size
            if size > self.limit:
                self.overflow = True
                if not (self.keep_tail and self._drop_head(size - self.limit)):
                    self.truncated = True
                    os.ftruncate(self.fd, self.limit + 1)
        except OSError:
            pass

    def _drop_head(self, upto: int) -> bool:
        """Free the file's bytes before ``upto`` (whole pages) and keep its size: the writer's offset
        goes on where it was, and the last ``limit`` bytes stay. False where the filesystem cannot
        punch holes (the head is kept then, as for stdout)."""
        end = upto & ~(_PAGE - 1)
        if end > self.dropped:
            if _libc.fallocate(self.fd, _PUNCH_HOLE | _KEEP_SIZE, ctypes.c_long(self.dropped),
                               ctypes.c_long(end - self.dropped)) != 0:
                return False
            self.dropped = end
        return True

    def read(self) -> bytes:
        """What the run wrote, up to the cap: a small first read, the rest sized by ``fstat`` (a read of
        ``limit + 1`` bytes allocates that much for every run: 15 µs of a 2-byte answer)."""
        if self.keep_tail:
            return self._read_tail()
        first = min(self.limit + 1, FIRST_READ)
        try:
            data = os.pread(self.fd, first, 0)
            if len(data) == first and first <= self.limit:
                rest = min(os.fstat(self.fd).st_size, self.limit + 1) - first
                if rest > 0:
                    data += os.pread(self.fd, rest, first)
        except OSError:
            return b""
        if len(data) > self.limit:
            self.overflow = True
        return data[: self.limit]

    def _read_tail(self) -> bytes:
        """The last ``limit`` bytes written (all of it when no more): past ``dropped``, nothing was freed.
        Where the ticker had to truncate instead (no hole punching), the head is what is left."""
        try:
            size = os.fstat(self.fd).st_size
            start = 0 if self.truncated else max(0, size - self.limit)
            data = os.pread(self.fd, min(size, self.limit), start)
        except OSError:
            return b""
        if size > self.limit:
            self.overflow = True
        return data

    def clear(self) -> None:
        """Empty the file: the response must not outlive the request on disk."""
        try:
            os.ftruncate(self.fd, 0)
        except OSError:
            pass


def set_stdin_bytes(wasi: wasmtime.WasiConfig, data: bytes) -> None:
    """wasmtime-py has no helper for stdin from bytes; the C API takes ownership of the vector."""
    vec = ffi.wasm_byte_vec_t()
    buf = (ffi.wasm_byte_t * len(data)).from_buffer_copy(data) if data else None
    _c.byte_vec_new(ctypes.byref(vec), ctypes.c_size_t(len(data)), buf)
    _c.wasi_set_stdin_bytes(wasi.ptr(), ctypes.byref(vec))


# -- the per-run C API calls, without wasmtime-py's per-call wrappers ---------------------------
# ``Instance.exports(store)`` wraps every export in a Python object and ``Func.__call__`` builds
# the function's type on every call: ~30 µs of a ~140 µs run (docs/decisions.md, issue 14). The
# export's position is looked up once per module (``export_index``); each run asks wasmtime for
# that one export and calls it directly.

def export_index(module: wasmtime.Module, name: str, kind: type) -> int | None:
    """Position of export ``name`` (of type ``kind``, e.g. ``wasmtime.FuncType``) in ``module``, or None."""
    for i, e in enumerate(module.exports):
        if e.name == name:
            return i if isinstance(e.type, kind) else None
    return None


def instantiate(pre: wasmtime.InstancePre, ctx) -> "ffi.wasmtime_instance_t":
    """``InstancePre.instantiate`` without the ``Instance`` wrapper; raises ``Trap``/``WasmtimeError``."""
    inst = ffi.wasmtime_instance_t()
    trap = _TRAP_PTR()
    error = _c.instance_pre_instantiate(pre.ptr(), ctx, ctypes.byref(inst), ctypes.byref(trap))
    if error:
        raise _c.error(error)
    if trap:
        raise wasmtime.Trap._from_ptr(trap)
    return inst


_TRAP_PTR = ctypes.POINTER(ffi.wasm_trap_t)
_NAME_PTR = ctypes.POINTER(ctypes.c_char)
_FUNC = ffi.WASMTIME_EXTERN_FUNC.value


def _export(ctx, inst, index: int, name: bytes) -> "ffi.wasmtime_extern_t":
    item = ffi.wasmtime_extern_t()
    name_ptr = _NAME_PTR()
    name_len = ctypes.c_size_t(0)
    if not _c.instance_export_nth(ctx, ctypes.byref(inst), ctypes.c_size_t(index), ctypes.byref(name_ptr),
                                  ctypes.byref(name_len), ctypes.byref(item)):
        raise wasmtime.WasmtimeError(f"instance has no export #{index}")
    if ctypes.string_at(name_ptr, name_len.value) != name:      # the module's order is the instance's
        raise wasmtime.WasmtimeError(f"export #{index} is not {name.decode()}")
    return item


def call_start(ctx, inst, index: int) -> None:
    """Call the ``() -> ()`` export at ``index``; an exit raises ``ExitTrap``, a trap ``Trap``."""
    item = _export(ctx, inst, index, b"_start")
    if item.kind != _FUNC:
        raise wasmtime.WasmtimeError("_start is not a function")
    trap = _TRAP_PTR()
    error = _c.func_call(ctx, ctypes.byref(item.of.func), None, _c.ZERO, None, _c.ZERO, ctypes.byref(trap))
    if error:
        raise _c.error(error)      # an ExitTrap when the module called proc_exit
    if trap:
        raise wasmtime.Trap._from_ptr(trap)


def memory_size(ctx, inst, index: int | None) -> int:
    if index is None:
        return 0
    item = _export(ctx, inst, index, b"memory")
    return _c.memory_data_size(ctx, ctypes.byref(item.of.memory))


_argv_cache: dict[tuple, tuple] = {}


def set_argv(wasi: wasmtime.WasiConfig, argv: tuple[str, ...]) -> None:
    """``wasi.argv = argv``; the C array of a given argv is built once (wasmtime copies it)."""
    arr = _argv_cache.get(argv)
    if arr is None:
        if len(_argv_cache) > 1024:
            _argv_cache.clear()
        enc = [a.encode() for a in argv]
        ptrs = (ctypes.c_char_p * len(enc))(*enc)
        arr = _argv_cache[argv] = (ctypes.c_size_t(len(enc)), ptrs, enc)
    if not _c.wasi_set_argv(wasi.ptr(), arr[0], arr[1]):
        raise wasmtime.WasmtimeError("failed to configure argv")


KEEP_RESIDENT = 128 * 1024


SLOT_RESERVATION = 5 << 30     # address space one pooled memory reserves (4 GiB + guards), generously


def pooling_fits(slots: int) -> bool:
    """Whether the pool's address-space reservation fits under ``RLIMIT_AS``: wasmtime aborts the
    process (a Rust panic, not an error) when it cannot reserve the pool."""
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    return soft == resource.RLIM_INFINITY or soft > (slots + 4) * SLOT_RESERVATION


def enable_pooling(cfg: wasmtime.Config, slots: int) -> bool:
    """wasmtime's pooling allocator on ``cfg``: ``slots`` instances (memories, tables) reserved once and
    reused, so a run maps no new memory (measured: ``Sandbox.run`` 93 → 60 µs, docs/decisions.md).
    False (and nothing changed) when the reservation would not fit the process's address-space limit."""
    if not pooling_fits(slots):
        return False
    p = ffi.wasmtime_pooling_allocation_config_new()
    try:
        for setter, value in (("total_core_instances", slots), ("total_memories", slots), ("total_tables", slots),
                              ("max_memory_size", 4 << 30), ("max_memories_per_module", 1),
                              ("max_tables_per_module", MAX_TABLES), ("table_elements", TABLE_ELEMENTS),
                              ("max_core_instance_size", 8 << 20),
                              # the first KEEP_RESIDENT bytes of a freed slot are zeroed in place, not
                              # decommitted: no madvise and no page fault on the next run (61.7 → 54.8 µs)
                              ("linear_memory_keep_resident", KEEP_RESIDENT), ("table_keep_resident", KEEP_RESIDENT)):
            getattr(ffi, f"wasmtime_pooling_allocation_config_{setter}_set")(p, value)
        ffi.wasmtime_pooling_allocation_strategy_set(cfg.ptr(), p)
    finally:
        ffi.wasmtime_pooling_allocation_config_delete(p)
    return True


_NO_FINALIZER = ctypes.cast(0, ctypes.CFUNCTYPE(None, ctypes.c_void_p))


class RawStore:
    """A wasmtime store through the C API: what a run needs of ``wasmtime.Store`` (fuel, memory
    limit, WASI, fuel left), ~2.4 µs cheaper per run. ``close`` frees it. The calls go through
    ``_cdirect`` (no ctypes argument checks)."""

    __slots__ = ("ptr", "ctx")

    def __init__(self, engine: wasmtime.Engine):
        self.ptr = _c.store_new(engine.ptr(), None, _NO_FINALIZER)
        self.ctx = _c.store_context(self.ptr)

    def configure(self, fuel: int, memory: int) -> None:
        """Fuel and the memory/table limiter; the epoch deadline is ``_deadline.arm``'s."""
        error = _c.context_set_fuel(self.ctx, ctypes.c_uint64(fuel))
        if error:
            raise _c.error(error)
        _c.store_limiter(self.ptr, ctypes.c_int64(memory), _TABLE_ELEMENTS, _NO_LIMIT, _NO_LIMIT, _NO_LIMIT)

    def set_wasi(self, wasi: wasmtime.WasiConfig) -> None:
        error = _c.context_set_wasi(self.ctx, wasi._consume())
        if error:
            raise _c.error(error)

    def fuel_left(self) -> int:
        left = ctypes.c_uint64(0)
        error = _c.context_get_fuel(self.ctx, ctypes.byref(left))
        if error:
            _c.error(error)      # freed with the wrapper
            return 0
        return left.value

    def close(self) -> None:
        if self.ptr is not None:
            _c.store_delete(self.ptr)
            self.ptr = self.ctx = None


_TABLE_ELEMENTS, _NO_LIMIT = ctypes.c_int64(TABLE_ELEMENTS), ctypes.c_int64(-1)   # table.grow: as pooled


def set_output_files(wasi: wasmtime.WasiConfig, out: "OutFile", err: "OutFile") -> None:
    """stdout and stderr to the thread's files (paths encoded once per file)."""
    ptr = wasi.ptr()
    if not _c.wasi_set_stdout_file(ptr, out.cpath):
        raise wasmtime.WasmtimeError(f"failed to open {out.path} for stdout")
    if not _c.wasi_set_stderr_file(ptr, err.cpath):
        raise wasmtime.WasmtimeError(f"failed to open {err.path} for stderr")
