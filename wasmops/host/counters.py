"""Counters shared by the worker processes of one host: the canary split stays exact across them.

A canary sends request n (counting every unpinned request of the module) to the canary digest when
``(37·n mod 100) < w`` (``canary.py``). With several workers, n must be one
sequence for all of them: each canary gets a slot (8 bytes) in a file that every worker maps, and
``take`` reads and bumps it under a POSIX record lock on those 8 bytes (two syscalls, paid only by
modules that have a canary). The supervisor creates the file, gives each canary its slot, and
zeroes a slot when a new canary digest takes it.

    >>> import tempfile, os
    >>> c = SharedCounters.create(os.path.join(tempfile.mkdtemp(), "counters"), slots=4)
    >>> [c.take(1) for _ in range(3)], c.take(2)
    ([0, 1, 2], 0)
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct

SLOT = struct.Struct("<Q")
DEFAULT_SLOTS = 4096


class SharedCounters:
    def __init__(self, path: str, *, slots: int = DEFAULT_SLOTS):
        self.path, self.slots = path, slots
        self.fd = os.open(path, os.O_RDWR)
        self.mem = mmap.mmap(self.fd, slots * SLOT.size)

    @classmethod
    def create(cls, path: str, *, slots: int = DEFAULT_SLOTS) -> "SharedCounters":
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, slots * SLOT.size)
        finally:
            os.close(fd)
        return cls(path, slots=slots)

    def take(self, slot: int) -> int:
        """This slot's value, and one more for the next caller (in any process)."""
        off = slot * SLOT.size
        fcntl.lockf(self.fd, fcntl.LOCK_EX, SLOT.size, off)
        try:
            (n,) = SLOT.unpack_from(self.mem, off)
            SLOT.pack_into(self.mem, off, n + 1)
        finally:
            fcntl.lockf(self.fd, fcntl.LOCK_UN, SLOT.size, off)
        return n

    def reset(self, slot: int) -> None:
        off = slot * SLOT.size
        fcntl.lockf(self.fd, fcntl.LOCK_EX, SLOT.size, off)
        try:
            SLOT.pack_into(self.mem, off, 0)
        finally:
            fcntl.lockf(self.fd, fcntl.LOCK_UN, SLOT.size, off)

    def close(self) -> None:
        self.mem.close()
        os.close(self.fd)
