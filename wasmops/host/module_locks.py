"""One admin change of a module at a time (``Runtime`` and its canary operations)."""

from __future__ import annotations

import functools
import threading


def one_per_module(fn):
    """Admin changes of one module run one at a time (a module's compile happens
    outside the deploy lock, so other modules' changes no longer wait for it). The module comes
    from a request's ``namespace``/``name`` or from the first two arguments."""
    @functools.wraps(fn)
    def wrapper(self, *args, **kw):
        first = args[0]
        key = f"{first.namespace}/{first.name}" if hasattr(first, "namespace") else f"{args[0]}/{args[1]}"
        with self._module_locks_guard:
            lock = self._module_locks.setdefault(key, threading.RLock())
        with lock:
            return fn(self, *args, **kw)
    return wrapper
