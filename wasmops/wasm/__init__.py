"""The one wasmtime runner and its module I/O and compile cache, shared by ``wasmops test`` and the host."""
