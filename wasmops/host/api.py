"""Typed bodies of the host's admin API: every field is checked before anything runs.

    >>> DeployRequest.model_validate({"namespace": "dev", "name": "greet", "ref": "oci-layout://oci:greet",
    ...     "digest": "sha256:" + "a" * 64, "limits": {"memory": "4Mi"}}).host_limits().memory
    4194304

A body that is not a JSON object, a field of the wrong type, an empty or over-long reference:
each is a ``ValidationError`` whose ``loc`` names the field, which the server answers with 400.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from ..units import parse_size
from wasmops.wasm.shape import MAX_FUEL, run_args, success_exit_codes as check_exit_codes
from wasmops.wasm.scratch import Scratch
from .state import Limits

MAX_REF = 2048
MAX_ENTRIES = 128
Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Key = Annotated[str, StringConstraints(min_length=1, max_length=253)]
Value = Annotated[str, StringConstraints(max_length=4096)]
Size = int | Annotated[str, StringConstraints(max_length=32)]


class LimitsIn(BaseModel):
    """``limits`` of a deploy body; sizes are bytes or quantities like ``16Mi``."""

    model_config = ConfigDict(extra="forbid")

    fuel: int | None = Field(None, gt=0, le=MAX_FUEL)
    memory: Size | None = None
    timeout_ms: int | None = Field(None, gt=0, le=3_600_000)
    max_stdout: Size | None = None

    @field_validator("memory", "max_stdout")
    @classmethod
    def _size(cls, v):
        return None if v is None else parse_size(v)

    def resolved(self) -> Limits:
        return Limits.model_validate(self.model_dump(exclude_none=True))


class DeployRequest(BaseModel):
    """Body of ``PUT /admin/modules/{ns}/{name}`` (namespace and name come from the path). An
    unknown field is a 400: a typo (``limitz``) must not deploy with default limits."""

    model_config = ConfigDict(extra="forbid")

    namespace: Name
    name: Name
    ref: Annotated[str, StringConstraints(min_length=1, max_length=MAX_REF, strip_whitespace=True)]
    digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    trust_level: str = Field("sandboxed", pattern=r"^[a-z][a-z0-9-]{0,31}$")
    limits: LimitsIn = Field(default_factory=LimitsIn)
    env: dict[Key, Value] = Field(default_factory=dict, max_length=MAX_ENTRIES)
    labels: dict[Key, Value] = Field(default_factory=dict, max_length=MAX_ENTRIES)
    replicas: int = Field(1, ge=0, le=10_000)
    success_exit_codes: Annotated[list[int], AfterValidator(check_exit_codes)] = Field(
        default_factory=list, max_length=32, description="Exit codes besides 0 that mean success: 200, not an error")
    args: Annotated[list[str], AfterValidator(run_args)] = Field(
        default_factory=list, description="Fixed arguments of every run, after argv[0] (shape.run_args)")
    scratch: Scratch | None = Field(None, description="A fresh directory per run, with its input and output files "
                                    "(wasmops.wasm.scratch); none: the run gets no directory")

    @classmethod
    def again(cls, live: dict) -> dict:
        """The body that admits what the host's live view lists as ``live`` again: every field of this
        request the view carries (a release's undo; a field added here is carried without a second list)."""
        return {k: live[k] for k in cls.model_fields if k not in ("namespace", "name") and k in live}

    @field_validator("ref")
    @classmethod
    def _ref(cls, v: str) -> str:
        from ..errors import SpecError
        from wasmops.supply.oci.refs import parse_ref

        try:
            parse_ref(v)
        except SpecError as exc:
            raise ValueError(exc.message) from None
        return v

    @field_validator("limits")
    @classmethod
    def _limits(cls, v: LimitsIn) -> LimitsIn:
        v.resolved()  # the host's own bounds (positive sizes ...)
        return v

    def host_limits(self) -> Limits:
        return self.limits.resolved()


class CanaryRequest(DeployRequest):
    """Body of ``PUT /admin/modules/{ns}/{name}/canary``: a deploy body plus the canary's ``weight``."""

    weight: int = Field(ge=0, le=100, description="Percent of unpinned requests the canary serves.")


class WeightRequest(BaseModel):
    """Body of ``PUT /admin/modules/{ns}/{name}/canary/weight``."""

    model_config = ConfigDict(extra="forbid")

    weight: int = Field(ge=0, le=100)
