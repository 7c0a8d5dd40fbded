"""The per-run wasmtime C calls without ctypes' argument checks (issue 14, ninth session).

wasmtime-py declares ``argtypes`` for every C function, so each call converts and type-checks every
argument (``from_param`` of each pointer type): measured here, ``wasmtime_instance_export_nth`` (6
arguments) costs 1.20 µs through its declared function and 0.32 µs through the same symbol without
``argtypes``. A run makes ~15 such calls. These are the same symbols, looked up again on a second
handle of the same library (``dlopen`` returns the one already loaded), with only a ``restype``:
callers pass ctypes objects of the exact C types (pointers, ``byref``, ``c_size_t``/``c_uint64``/
``c_int64`` for integers; a bare Python int would go as a C ``int``). Functions that return an error
return its address (``c_void_p``): :func:`error` makes it the ``wasmtime.WasmtimeError`` (or
``ExitTrap``) wasmtime-py would have raised.
"""

from __future__ import annotations

import ctypes

import wasmtime
from wasmtime import _ffi as ffi

_lib = ctypes.CDLL(ffi.dll._name)          # the loaded library again: its functions carry no argtypes


def _fn(name: str, restype):
    f = getattr(_lib, name)
    f.argtypes, f.restype = None, restype
    return f


_ERR = ctypes.c_void_p
store_new = _fn("wasmtime_store_new", ctypes.POINTER(ffi.wasmtime_store_t))
store_context = _fn("wasmtime_store_context", ctypes.POINTER(ffi.wasmtime_context_t))
store_delete = _fn("wasmtime_store_delete", None)
store_limiter = _fn("wasmtime_store_limiter", None)
context_set_fuel = _fn("wasmtime_context_set_fuel", _ERR)
context_get_fuel = _fn("wasmtime_context_get_fuel", _ERR)
context_set_wasi = _fn("wasmtime_context_set_wasi", _ERR)
instance_pre_instantiate = _fn("wasmtime_instance_pre_instantiate", _ERR)
instance_export_nth = _fn("wasmtime_instance_export_nth", ctypes.c_bool)
func_call = _fn("wasmtime_func_call", _ERR)
memory_data_size = _fn("wasmtime_memory_data_size", ctypes.c_size_t)
wasi_set_argv = _fn("wasi_config_set_argv", ctypes.c_bool)
wasi_set_stdin_bytes = _fn("wasi_config_set_stdin_bytes", None)
wasi_set_stdout_file = _fn("wasi_config_set_stdout_file", ctypes.c_bool)
wasi_set_stderr_file = _fn("wasi_config_set_stderr_file", ctypes.c_bool)
byte_vec_new = _fn("wasm_byte_vec_new", None)

ZERO = ctypes.c_size_t(0)
_ERROR_PTR = ctypes.POINTER(ffi.wasmtime_error_t)


def error(address: int) -> wasmtime.WasmtimeError:
    """The exception for a returned ``wasmtime_error_t *`` (freed with it), as wasmtime-py makes it."""
    return wasmtime.WasmtimeError._from_ptr(ctypes.cast(address, _ERROR_PTR))
