"""The module source format: a directory with a ``module.yaml``.

    >>> from wasmops.supply.source import load_module_source
    >>> src = load_module_source("examples/greet-c")
    >>> src.name, src.language, src.limits.memory_bytes
    ('greet-c', 'c', 8388608)
    >>> [case.name for case in src.tests]
    ['greets', 'greeting-from-env', 'no-who-greets-world', 'invalid-json']
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Literal


from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator,
                      model_validator)

from wasmops.digests import named
from wasmops.errors import SpecError, spec_error_from_pydantic
from wasmops.units import parse_size
from wasmops.yamldoc import load_yaml
from wasmops.wasm.scratch import Scratch
from wasmops.wasm.shape import MAX_FUEL, run_args, success_exit_codes as check_exit_codes

Language = Literal["c", "zig", "wat", "prebuilt"]
#: How a run can end without an exit code (``wasmops.wasm.sandbox.REASON_*``), for ``expect_error``.
ErrorReason = Literal["trap", "out_of_fuel", "timeout", "stack_overflow", "memory_limit", "stdout_limit",
                      "scratch_limit", "output_missing"]


class Limits(BaseModel):
    """Per-run limits for the sandbox."""

    model_config = ConfigDict(extra="forbid")

    fuel: int = Field(50_000_000, gt=0, le=MAX_FUEL, description="Wasm fuel units a run may consume (at most "
                      "10^15, the host's cap: wasmtime counts fuel in 64 bits).")
    memory: int | str = Field("16Mi", description="Linear memory cap, bytes or a quantity like 16Mi.")
    timeout_ms: int = Field(2000, gt=0, le=3_600_000, description="Wall-clock deadline, enforced by epoch "
                            "interruption (at most an hour, the host's cap).")
    max_stdout: int | str = Field("1Mi", description="Largest stdout a run may write.")

    @field_validator("memory", "max_stdout")
    @classmethod
    def _size(cls, v):
        parse_size(v)
        return v

    @property
    def memory_bytes(self) -> int:
        return parse_size(self.memory)

    @property
    def max_stdout_bytes(self) -> int:
        return parse_size(self.max_stdout)


class TestCase(BaseModel):
    """One test case: stdin/env/args in, expected stdout and exit code out."""

    __test__ = False
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    stdin: str = ""
    stdin_file: str | None = Field(None, min_length=1, description="A file (relative to the module directory) "
                                   "whose bytes are the stdin, for binary or large input; instead of stdin.")
    env: dict[str, str] = Field(default_factory=dict)
    args: Annotated[list[str], AfterValidator(run_args)] = Field(
        default_factory=list, description="Arguments after argv[0]. Verify runs the case through the host "
        "only when they are exactly the deployment's (spec.runtimeConfig.args).")
    expect_stdout: str | None = Field(
        None, description="The whole stdout, compared without trailing newlines on either side (a YAML block "
        "scalar ends in one, most programs print one); other whitespace counts.")
    expect_stdout_contains: str | None = None
    expect_exit: int = 0
    expect_error: ErrorReason | None = Field(
        None, description="The run must end this way instead of exiting (e.g. trap: a Rust panic, abort()).")
    expect_stderr_contains: str | None = Field(
        None, min_length=1, description="A failing run's stderr (its last 2,048 bytes, what the host returns) "
        "must contain this, e.g. 'panic: ' to tell a Go panic from os.Exit(2).")

    @field_validator("expect_exit", mode="before")
    @classmethod
    def _exit_is_a_code(cls, v):
        if v is None or isinstance(v, bool):
            raise ValueError("expect_exit must be an exit code (an integer); for a run that does not exit "
                             "(a Rust panic, abort(), a trap) write `expect_error: trap` instead")
        if isinstance(v, str):
            raise ValueError(f"expect_exit must be an integer exit code, not the string {v!r} (drop the quotes)")
        return v

    _stdin_bytes: bytes | None = PrivateAttr(None)

    @property
    def stdin_bytes(self) -> bytes:
        """What the run reads: the ``stdin_file``'s bytes (read when module.yaml is loaded), else ``stdin``."""
        return self._stdin_bytes if self._stdin_bytes is not None else self.stdin.encode()

    @model_validator(mode="after")
    def _one_ending(self):
        if self.stdin_file is not None and "stdin" in self.model_fields_set:
            raise ValueError("stdin and stdin_file both given; keep one")
        if self.expect_error is not None and "expect_exit" in self.model_fields_set:
            raise ValueError(f"expect_exit and expect_error both given: a run that ends in {self.expect_error} "
                             "has no exit code; keep one")
        if self.expect_stderr_contains is not None and self.expect_error is None and self.expect_exit == 0:
            raise ValueError("expect_stderr_contains needs a failing run (expect_exit other than 0, or "
                             "expect_error): stderr is kept only for runs that fail (docs/spec/host-api.md)")
        return self


class ModuleSource(BaseModel):
    """A parsed ``module.yaml``; ``root`` is the directory it was read from."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    language: Language
    sources: list[str] = Field(min_length=1)
    limits: Limits = Field(default_factory=Limits)
    tests: list[TestCase] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list, description="Extra compiler flags.")
    success_exit_codes: Annotated[list[int], AfterValidator(check_exit_codes)] = Field(
        default_factory=list, description="Exit codes (1..125) besides 0 that mean success (a SAT solver's 10 "
        "and 20, grep's 1); `wasmops add` writes them to the manifest's spec.runtimeConfig.successExitCodes.")
    args: Annotated[list[str], AfterValidator(run_args)] = Field(
        default_factory=list, description="Fixed arguments the deployment runs the module with (after argv[0]): "
        "`wasmops add` writes them to the manifest's spec.runtimeConfig.args. Cases carry their own `args`.")
    scratch: Scratch | None = Field(
        None, description="A fresh directory for every run (`path`, `max_bytes`, `input_file`, `output_file`): "
        "`wasmops test` runs every case with it and `wasmops add` writes it to spec.runtimeConfig.scratch.")
    root: Path | None = Field(None, exclude=True)


    @model_validator(mode="after")
    def _unique_tests(self):
        names = [t.name for t in self.tests]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"duplicate test names: {sorted(dup)}")
        return self

    def source_paths(self) -> list[Path]:
        assert self.root is not None
        return [self.root / s for s in self.sources]


def load_module_source(path: str | Path) -> ModuleSource:
    """Read and validate ``DIR/module.yaml`` (or a path to the yaml itself)."""
    p = Path(path)
    yml = p if p.is_file() else p / "module.yaml"
    if not yml.exists():
        raise SpecError("no module.yaml here", where=str(yml), hint="a module is a directory with a module.yaml")
    data = load_yaml(yml.read_text(), str(yml))       # line and column of a syntax error or a duplicate key
    if not isinstance(data, dict):
        raise SpecError("expected a mapping at the top level", where=str(yml))
    try:
        src = ModuleSource.model_validate(data)
    except ValidationError as exc:
        raise spec_error_from_pydantic(exc, str(yml)) from exc
    src.root = yml.parent.resolve()
    for rel in src.sources:        # `add` wrote a manifest for a path every later command refused
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise SpecError(f"sources: {rel} must be a path inside the module directory", where=str(yml),
                            hint="copy or build the file into the module directory and list it relative to "
                                 "module.yaml")
        if not (src.root / rel).exists():
            raise SpecError(f"sources: {rel} does not exist", where=str(yml))
    for i, case in enumerate(src.tests):
        if case.stdin_file is not None:
            f = src.root / case.stdin_file
            if not f.is_file():
                raise SpecError(f"tests.{i}.stdin_file: {case.stdin_file} does not exist (case {case.name})",
                                where=str(yml), hint="the path is relative to the module directory")
            case._stdin_bytes = f.read_bytes()
    return src


#: Build-output directories never read into the source digest (a cargo ``target/`` can hold gigabytes).
BUILD_OUTPUT_DIRS = frozenset({"target", "node_modules", "zig-cache", "zig-out"})


def source_digest(module: str | Path | ModuleSource) -> str:
    """Digest of a module directory's module.yaml and its source files: for ``prebuilt``, the files
    it lists (the .wasm is the whole input); otherwise every file under the directory (headers and
    includes are not listed), except hidden ones and build output (``BUILD_OUTPUT_DIRS``).

    ``module`` is the directory or its parsed ``ModuleSource`` (then module.yaml is not parsed again)."""
    src = module if isinstance(module, ModuleSource) else load_module_source(module)
    h = hashlib.sha256()
    h.update((src.root / "module.yaml").read_bytes())
    if src.language == "prebuilt":
        files = sorted({(src.root / s).resolve() for s in [*src.sources, *(c.stdin_file for c in src.tests if c.stdin_file)]})
        for p in files:
            h.update(str(p.relative_to(src.root.resolve()) if p.is_relative_to(src.root.resolve()) else p).encode()
                     + b"\0" + p.read_bytes() + b"\0")
        return named(h.hexdigest())
    for p in sorted(src.root.rglob("*")):
        parts = p.relative_to(src.root).parts
        if p.is_file() and not any(part.startswith(".") for part in parts) and not BUILD_OUTPUT_DIRS & set(parts[:-1]):
            h.update(str(p.relative_to(src.root)).encode() + b"\0" + p.read_bytes() + b"\0")
    return named(h.hexdigest())
