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

def _io_base() -> str:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()


_IO_PREFIX = "wasmops-io-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
        if pid.isdigit() and not _pid_alive(int(pid)):
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


class OutFile:
    """Per-thread stdout/stderr files on tmpfs, watched by the ticker so they stay bounded.

    wasmtime-py's ``stdout_custom`` runs the Python callback on a tokio worker thread: it costs
    ~240 µs per run here and can panic at interpreter exit; a C-level writer (libc ``write`` to a
    memfd as the custom callback) measured slower than the file too (docs/decisions.md, issue 14).
    A file on tmpfs costs ~15 µs. The epoch ticker truncates a file that grows past its cap, so a
    runaway writer cannot fill RAM. The files are 0600 in a 0700 directory of this process, emptied
    after every run (nothing of a response stays on disk) and removed with the directory when the
    process exits. Each thread keeps its two files and one open descriptor each (``for_thread``):
    a run costs a ``pread`` and an ``ftruncate`` per file, no open/close.
    """

    _local = threading.local()

    def __init__(self, kind: str, limit: int):
        self.dir = IODir.get()
        self.path = os.path.join(self.dir, f"{threading.get_ident()}.{kind}")
        self.limit = limit
        self.overflow = False
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)

    @classmethod
    def for_thread(cls, kind: str, limit: int) -> "OutFile":
        """This thread's file of ``kind``, reset for a new run with cap ``limit``."""
        f = getattr(cls._local, kind, None)
        if f is None or f.dir != IODir._path:   # first run on this thread, or the directory was removed
            if f is not None:
                os.close(f.fd)
            f = cls(kind, limit)
            setattr(cls._local, kind, f)
        f.limit, f.overflow = limit, False
        return f

    def check(self) -> None:
        """Called from the ticker thread: cut the file back if it grew past the cap."""
        try:
            if os.fstat(self.fd).st_size > self.limit:
                self.overflow = True
                os.ftruncate(self.fd, self.limit + 1)
        except OSError:
            pass

    def read(self) -> bytes:
        try:
            data = os.pread(self.fd, self.limit + 1, 0)
        except OSError:
            return b""
        if len(data) > self.limit:
            self.overflow = True
        return data[: self.limit]

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
    ffi.wasm_byte_vec_new(ctypes.byref(vec), len(data), buf)
    ffi.wasi_config_set_stdin_bytes(wasi.ptr(), ctypes.byref(vec))
