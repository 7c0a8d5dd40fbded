"""A WAT module whose fuel per call is set by a loop count: for release-judge tests."""

from wasmops.demo.modules import worker_wat  # noqa: F401  (one copy, shared with the demo)
