"""``spec.rollout`` of a WasmModuleDeployment, and the canary split the reconciler plans from it.

``strategy: replace`` (the default) switches the host to the new digest at once. ``strategy: canary``
runs the new digest beside the stable one at increasing weights::

    >>> r = Rollout.model_validate({"strategy": "canary", "steps": [
    ...     {"weight": 10, "pause": "2m"}, {"weight": 50, "pause": "5m"}, {"weight": 100}]})
    >>> [s.weight for s in r.steps], r.steps[0].pause_seconds
    ([10, 50, 100], 120.0)

While a canary runs, the release flow records it in Git as ``spec.rollout.inProgress``: the digest
that stays stable (``stable.tag``/``stable.digest``), the step and the canary's weight. Then
``spec.moduleRef`` is the canary (the digest the release committed) and the host must serve both:
that is desired state, so a host restart or a reconcile resumes the split at the recorded weight.
Promotion removes ``inProgress``; an abort reverts ``moduleRef`` to the stable digest (a stale
``inProgress`` whose stable digest equals ``moduleRef`` means no canary).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

DURATION = r"^\d+(\.\d+)?(ms|s|m|h)$"
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DIGEST = r"^sha256:[0-9a-f]{64}$"


def parse_duration(v: str) -> float:
    """``500ms``, ``30s``, ``2m``, ``1h`` → seconds."""
    m = re.match(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$", v.strip())
    if not m:
        raise ValueError(f"{v!r} is not a duration (e.g. 30s, 2m, 1h, 500ms)")
    return float(m.group(1)) * _UNIT[m.group(2)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RolloutStep(_Model):
    weight: int = Field(ge=1, le=100, description="Percent of traffic the canary gets at this step (100: promote).")
    pause: str | None = Field(None, pattern=DURATION, description="How long the step runs before it is judged "
                                                                   "(30s, 2m, 1h).")

    @property
    def pause_seconds(self) -> float:
        return parse_duration(self.pause) if self.pause else 0.0


class StableRef(_Model):
    tag: str
    digest: str = Field(pattern=_DIGEST)


class RolloutProgress(_Model):
    """A canary in progress (written by the release flow; desired state for the reconciler)."""

    stable: StableRef = Field(description="The digest that stays stable while moduleRef is the canary.")
    step: int = Field(0, ge=0, description="Index into steps of the step running now.")
    weight: int = Field(ge=0, le=100, description="The canary's share of traffic now, percent.")


class Rollout(_Model):
    strategy: Literal["replace", "canary"] = "replace"
    steps: list[RolloutStep] = Field(default_factory=list, description="Canary steps; weights strictly "
                                                                       "increasing and ending at 100.")
    in_progress: RolloutProgress | None = Field(None, alias="inProgress")

    @field_validator("steps")
    @classmethod
    def _increasing(cls, v: list[RolloutStep]) -> list[RolloutStep]:
        for i in range(1, len(v)):
            if v[i].weight <= v[i - 1].weight:
                raise PydanticCustomError("rollout_steps", "steps[{i}].weight: {w} must be greater than "
                                          "steps[{p}].weight ({pw}); weights increase strictly and end at 100",
                                          {"i": i, "w": v[i].weight, "p": i - 1, "pw": v[i - 1].weight})
        if v and v[-1].weight != 100:
            raise PydanticCustomError("rollout_steps", "steps[{i}].weight: the last step must be 100, not {w}",
                                      {"i": len(v) - 1, "w": v[-1].weight})
        return v

    @model_validator(mode="after")
    def _canary_has_steps(self) -> "Rollout":
        if self.strategy == "canary" and not self.steps:
            raise PydanticCustomError("rollout_steps", "steps: strategy canary needs at least one step "
                                      "(e.g. [{weight: 10, pause: 2m}, {weight: 100}])")
        return self


@dataclass(frozen=True, slots=True)
class CanarySplit:
    """What the host must serve for a module with a canary in progress."""

    stable_tag: str
    stable_digest: str
    canary_tag: str
    canary_digest: str
    weight: int
    step: int


def canary_split(m, quarantine: set[str] | frozenset = frozenset()) -> CanarySplit | None:
    """The split Git asks for, or None (no rollout, a stale record, strategy replace, or a quarantined
    canary: then the stable digest serves alone)."""
    p = m.spec.rollout.in_progress
    ref = m.spec.module_ref
    if (p is None or m.spec.rollout.strategy != "canary" or not ref.digest or ref.digest == p.stable.digest
            or ref.digest in quarantine):
        return None
    return CanarySplit(p.stable.tag, p.stable.digest, ref.tag, ref.digest, p.weight, p.step)
