"""Linear memories of components, made by this process (wasmtime's host memory creator), so a run's
memory can be read back and capped.

wasmtime's C API gives a component instance's core memories to nobody: ``sandbox`` reads a core
module's peak memory off its exported ``memory``, which a component does not export. So the engine
that runs components makes its memories here: each is an anonymous ``mmap`` of the reservation
wasmtime asks for (inaccessible), of which the first ``size`` bytes are made readable and writable
(``mprotect``) when it is created and on every grow. Each grow is counted against the run of the
thread that grows it (:func:`begin`): the memories of one run are summed, the peak kept, and a grow
past the run's cap is refused (the guest's ``memory.grow`` gets -1, as a core module's does from the
store's limiter), with ``refused`` set, so the run's reason is known to be the memory limit.
"""

from __future__ import annotations

import ctypes
import itertools
import mmap
import threading

from wasmtime import _ffi as ffi

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_MAP_NORESERVE = 0x4000
_MAP_FAILED = ctypes.c_void_p(-1).value
_RW = mmap.PROT_READ | mmap.PROT_WRITE
_PROT_NONE = 0


class RunMemory:
    """The memories of the run on this thread: their sizes, the peak of their sum, the cap."""

    __slots__ = ("cap", "sizes", "peak", "refused")

    def __init__(self, cap: int):
        self.cap, self.sizes, self.peak, self.refused = cap, {}, 0, False

    def resize(self, key: int, size: int) -> bool:
        total = sum(s for k, s in self.sizes.items() if k != key) + size
        if total > self.cap:
            self.refused = True
            return False
        self.sizes[key] = size
        self.peak = max(self.peak, total)
        return True


_local = threading.local()


def begin(cap: int) -> RunMemory:
    """Count this thread's memories against ``cap`` bytes from now on (until the next ``begin``)."""
    run = _local.run = RunMemory(cap)
    return run


class _Mem:
    """One memory: ``usable`` bytes at ``base`` may ever be made accessible, of ``span`` mapped (the
    rest is the guard wasmtime asked for, never accessible)."""

    __slots__ = ("base", "size", "usable", "span", "run")

    def __init__(self, base: int, size: int, usable: int, span: int, run: RunMemory | None):
        self.base, self.size, self.usable, self.span, self.run = base, size, usable, span, run


_mems: dict[int, _Mem] = {}
_keys = itertools.count(1)
_lock = threading.Lock()


def _error(text: str) -> int:
    return ctypes.cast(ffi.wasmtime_error_new(text.encode()), ctypes.c_void_p).value or 0


def _page_up(n: int) -> int:
    return -(-n // mmap.PAGESIZE) * mmap.PAGESIZE


def _new_memory(_env, _ty, minimum, maximum, reserved, guard, ret) -> int:
    try:
        run = getattr(_local, "run", None)
        key = next(_keys)
        if run is not None and not run.resize(key, minimum):
            have = sum(run.sizes.values())
            return _error(f"wasmops: the component's initial memory ({have + minimum} bytes) exceeds the memory "
                          f"limit of {run.cap} bytes: raise the limit to at least that")
        usable = _page_up(max(reserved, minimum))
        span = usable + _page_up(guard)
        base = _libc.mmap(None, span, _PROT_NONE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_NORESERVE, -1, 0)
        if base in (None, _MAP_FAILED):
            return _error(f"wasmops: cannot reserve {span} bytes for a component memory")
        if minimum and _libc.mprotect(base, _page_up(minimum), _RW) != 0:
            _libc.munmap(base, span)
            return _error("wasmops: mprotect failed for a component memory")
        with _lock:
            _mems[key] = _Mem(base, minimum, usable, span, run)
        ret[0].env = key
        ret[0].get_memory, ret[0].grow_memory, ret[0].finalizer = _GET, _GROW, _FREE
        return 0
    except BaseException:      # noqa: BLE001 - an exception must not cross into wasmtime
        return _error("wasmops: creating a component memory failed")


def _get_memory(env, size_out, max_out) -> int:
    m = _mems.get(env or 0)
    if m is None:
        return 0
    size_out[0] = m.size
    max_out[0] = m.usable
    return m.base


def _grow_memory(env, new_size) -> int:
    try:
        m = _mems[env or 0]
        if new_size > m.usable:          # never past the reservation: the pages after it are not ours
            return _error(f"wasmops: a component memory cannot grow past its {m.usable}-byte reservation")
        if m.run is not None and not m.run.resize(env, new_size):
            return _error(f"wasmops: memory limit of {m.run.cap} bytes reached")
        if new_size > m.size and _libc.mprotect(m.base, _page_up(new_size), _RW) != 0:
            return _error("wasmops: mprotect failed while growing a component memory")
        m.size = new_size
        return 0
    except BaseException:      # noqa: BLE001
        return _error("wasmops: growing a component memory failed")


def _free(env) -> None:
    with _lock:
        m = _mems.pop(env or 0, None)
    if m is not None:
        _libc.munmap(m.base, m.span)


_GET = ffi.wasmtime_memory_get_callback_t(_get_memory)
_GROW = ffi.wasmtime_memory_grow_callback_t(_grow_memory)
_FREE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(_free)
_NEW = ffi.wasmtime_new_memory_callback_t(_new_memory)
_NO_FINALIZER = ctypes.cast(0, ctypes.CFUNCTYPE(None, ctypes.c_void_p))


def install(cfg) -> None:
    """Make ``cfg``'s engine create its linear memories here. Copy-on-write initialization is off: it
    needs wasmtime's own mmap memories (with a host memory creator, wasmtime 50 panics without this)."""
    ffi.wasmtime_config_memory_init_cow_set(cfg.ptr(), False)
    creator = ffi.wasmtime_memory_creator_t(None, _NEW, _NO_FINALIZER)
    ffi.wasmtime_config_host_memory_creator_set(cfg.ptr(), ctypes.byref(creator))


def live_memories() -> int:
    """How many memories made here are not yet freed (tests: none is leaked)."""
    return len(_mems)
