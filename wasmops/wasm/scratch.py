"""A run's scratch directory: a fresh, empty directory per run, preopened read-write at a guest path,
with an optional input file (the request body, written before the run) and output file (the response
body after a run that succeeded, instead of stdout). Removed after the run, whatever happened.

The setting (:class:`Scratch`) is one object everywhere: module.yaml's ``scratch`` (snake_case keys),
a manifest's ``spec.runtimeConfig.scratch`` (camelCase: ``maxBytes``, ``inputFile``, ``outputFile``)
and the host's deploy body (snake_case)::

    >>> Scratch.model_validate({"path": "/work", "inputFile": "/work/in.txt", "outputFile": "/work/out.txt"})
    Scratch(path='/work', max_bytes=16777216, input_file='/work/in.txt', output_file='/work/out.txt')
    >>> try:
    ...     Scratch.model_validate({"path": "/work", "output_file": "/tmp/out"})
    ... except ValueError as exc:
    ...     print(exc.errors()[0]["loc"], exc.errors()[0]["msg"])
    ('output_file',) Value error, '/tmp/out' is not inside the scratch directory /work: give a file name directly in it, like /work/out

Where the directories live: under the process's private I/O directory (``_sandbox_io.IODir``: tmpfs
``/dev/shm`` when writable, 0700, removed at exit, swept by the next process after a ``kill -9``),
so a run's files never touch the host's disk or anyone's home. Each is 0700 and named by the thread.

The size cap (``max_bytes``, 16 MiB by default) counts every entry the run made, the input file
included (a file by its bytes or blocks, whichever is larger, and at least 512 bytes per entry, so a
flood of empty files is bounded too). The epoch ticker checks it on every tick (:meth:`ScratchRun.check`,
like the stdout cap) and cuts the files back to nothing once it is passed, so the host's memory stays
bounded; the run's deadline check (every 20 ms) then stops the run, and the end of the run checks it once
more. Such a run fails with reason ``scratch_limit`` naming the field.
"""

from __future__ import annotations

import os
import shutil
import stat
import threading
from itertools import count
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from wasmops.units import parse_size

DEFAULT_MAX_BYTES = 16 * 2**20
MIN_MAX_BYTES, MAX_MAX_BYTES = 4096, 2**30
MAX_PATH = 255                 # bytes of a guest path
ENTRY_MIN = 512                # what one directory entry costs at least, against the cap
REASON_SCRATCH = "scratch_limit"
REASON_OUTPUT = "output_missing"


def _guest_dir(p: str) -> str:
    _plain(p)
    if not p.startswith("/"):
        raise ValueError(f"{p!r} is not absolute: the guest path of the scratch directory starts with / (like /work)")
    if p == "/":
        raise ValueError("'/' cannot be the scratch directory: give a directory, like /work or /tmp")
    return p.rstrip("/")


def _plain(p: str) -> None:
    if "\0" in p:
        raise ValueError(f"{p.split(chr(0))[0]!r}... holds a NUL byte")
    if len(p.encode("utf-8", "surrogatepass")) > MAX_PATH:
        raise ValueError(f"the path is {len(p.encode('utf-8', 'surrogatepass'))} bytes long: at most {MAX_PATH}")
    if any(part in (".", "..") for part in p.split("/")):
        raise ValueError(f"{p!r} holds '.' or '..': give the path plainly")
    try:
        p.encode()
    except UnicodeEncodeError:
        raise ValueError(f"{p!r} is not valid text (a lone surrogate)") from None


class Scratch(BaseModel):
    """A deployment's (or module.yaml's) scratch directory and files (see the module's docstring)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    path: str = Field(description="Where the run sees the directory (absolute, e.g. /work or /tmp)")
    max_bytes: Annotated[int, BeforeValidator(parse_size)] = Field(
        DEFAULT_MAX_BYTES, alias="maxBytes", ge=MIN_MAX_BYTES, le=MAX_MAX_BYTES,
        description="What the run may keep there at once (bytes or 16Mi): past it the run fails (scratch_limit)")
    input_file: str | None = Field(None, alias="inputFile", description="A file directly in `path` that holds "
                                   "the request body (the same bytes as stdin) when the run starts")
    output_file: str | None = Field(None, alias="outputFile", description="A file directly in `path` whose "
                                    "bytes are the response after a run that succeeded, instead of stdout")

    @model_validator(mode="before")
    @classmethod
    def _check_dir(cls, data):
        if isinstance(data, dict):
            p = data.get("path")
            if isinstance(p, str):
                data = {**data, "path": _guest_dir(p)}
        return data

    @field_validator("input_file", "output_file")
    @classmethod
    def _check_file(cls, p: str | None, info: ValidationInfo) -> str | None:
        d = info.data.get("path")
        if p is None or d is None:
            return p
        _plain(p)
        head, _, name = p.rpartition("/")
        if head != d or not name:
            raise ValueError(f"{p!r} is not inside the scratch directory {d}: give a file name directly in it, "
                             f"like {d}/out")
        return p

    def file_name(self, fld: str) -> str | None:
        """The name (in the directory) of ``input_file`` or ``output_file``, or None."""
        p = getattr(self, fld)
        return None if p is None else p.rpartition("/")[2]

    def where(self, fld: str) -> str:
        """How a person names the field (the manifest's spelling)."""
        return f"spec.runtimeConfig.scratch.{type(self).model_fields[fld].alias or fld}"


_seq = count(1)


class ScratchRun:
    """One run's directory: made and filled by :meth:`open`, watched while the run goes, gone after
    :meth:`close` (always called, in a ``finally``)."""

    __slots__ = ("spec", "host_path", "overflow", "used", "_lock")

    def __init__(self, spec: Scratch, host_path: str):
        self.spec, self.host_path, self.overflow, self.used = spec, host_path, False, 0
        self._lock = threading.Lock()

    @classmethod
    def open(cls, spec: Scratch, stdin: bytes) -> "ScratchRun":
        from wasmops.wasm._sandbox_io import IODir

        path = os.path.join(IODir.get(), f"run-{threading.get_ident()}-{next(_seq)}")
        os.mkdir(path, 0o700)
        run = cls(spec, path)
        try:
            run._write_input(stdin)
        except BaseException:
            run.close()
            raise
        return run

    def _write_input(self, stdin: bytes) -> None:
        spec, path = self.spec, self.host_path
        name = spec.file_name("input_file")
        if name is not None:
            if len(stdin) + ENTRY_MIN > spec.max_bytes:
                self.overflow = True               # refused before the run: nothing written
            else:
                fd = os.open(os.path.join(path, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                try:
                    os.write(fd, stdin) if len(stdin) < 2**20 else _write_all(fd, stdin)
                finally:
                    os.close(fd)

    def preopen(self, wasi) -> None:
        wasi.preopen_dir(self.host_path, self.spec.path)

    def check(self, wait: bool = False) -> None:
        """From the ticker (and the run's deadline check): past the cap, mark it and cut every file back.
        ``wait``: the end of the run's check, which waits for one in progress rather than skip."""
        if self.overflow or not self._lock.acquire(blocking=wait):
            return
        try:
            self.used = _usage(self.host_path)
            if self.used > self.spec.max_bytes:
                self.overflow = True
                _empty_files(self.host_path)
        finally:
            self._lock.release()

    def message(self) -> str:
        return (f"the scratch directory {self.spec.path} passed its cap of {self.spec.max_bytes} bytes "
                f"({self.spec.where('max_bytes')}; module.yaml scratch.max_bytes for `wasmops test`)")

    def read_output(self, limit: int) -> tuple[bytes | None, str]:
        """The output file's bytes (at most ``limit``), or None and why (missing, not a file, too big)."""
        name, where = self.spec.file_name("output_file"), self.spec.where("output_file")
        try:
            fd = os.open(os.path.join(self.host_path, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None, (f"the run succeeded but left no output file {self.spec.output_file} ({where}): "
                          "the response is that file's bytes")
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return None, f"the output file {self.spec.output_file} ({where}) is not a regular file"
            data = os.pread(fd, limit + 1, 0) if st.st_size <= limit else b"x" * (limit + 1)
        finally:
            os.close(fd)
        if len(data) > limit:
            return None, f"the output file {self.spec.output_file} ({where}) exceeded {limit} bytes (the stdout cap)"
        return data, ""

    def close(self) -> None:
        shutil.rmtree(self.host_path, ignore_errors=True)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _usage(root: str) -> int:
    """Bytes the tree under ``root`` holds (each entry: max(size, blocks), at least ``ENTRY_MIN``), not
    following links; iterative, so a deep tree cannot exhaust the stack."""
    total, stack = 0, [root]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for e in it:
                    try:
                        st = e.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += max(st.st_size if stat.S_ISREG(st.st_mode) else 0, st.st_blocks * 512, ENTRY_MIN)
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(e.path)
        except OSError:
            continue
    return total


def _empty_files(root: str) -> None:
    """Truncate every regular file under ``root`` (opened without following links): its space goes back."""
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            try:
                fd = os.open(os.path.join(dirpath, f), os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                continue
            try:
                if stat.S_ISREG(os.fstat(fd).st_mode):
                    os.ftruncate(fd, 0)
            finally:
                os.close(fd)


class WatchedOut:
    """What the run's deadline check watches (``_deadline.Watch.out``): stdout and the scratch directory."""

    __slots__ = ("out", "scratch")

    def __init__(self, out, scratch: ScratchRun):
        self.out, self.scratch = out, scratch

    def check(self) -> None:
        self.out.check()
        self.scratch.check()

    @property
    def overflow(self) -> bool:
        return self.out.overflow or self.scratch.overflow


def refused(files: ScratchRun):
    """The result of a run not started: its input file alone would pass the cap."""
    from wasmops.wasm.outcome import RunResult

    return RunResult(exit_code=None, stdout=b"", stderr=b"", fuel_used=0, peak_memory=0, duration_s=0.0,
                     reason=REASON_SCRATCH, message=f"the request body does not fit: {files.message()}")


def finish(files: ScratchRun, result, limits) -> None:
    """After the run (before the directory goes): the cap checked once more, then a run that succeeded
    answers with its output file's bytes (``limits.max_stdout`` at most) instead of stdout."""
    files.check(wait=True)
    if files.overflow:
        result.reason, result.message = REASON_SCRATCH, files.message()
        return
    if files.spec.output_file is None or not (result.reason is None or (
            result.reason == "exit_nonzero" and result.exit_code in limits.ok_exits)) or result.exit_code is None:
        return
    data, why = files.read_output(limits.max_stdout)
    if data is None:
        result.reason = "stdout_limit" if "exceeded" in why else REASON_OUTPUT
        result.message = why
    else:
        result.stdout = data
