"""Desired-state documents kept in Git, as pydantic models (exported as JSON Schema by ``wasmops schema``).

Kinds: ``WasmModuleDeployment``, ``Budget``, ``PriceSheet`` (and ``ModulePolicy`` in policy.py)::

    >>> from wasmops.gitops.manifest import WasmModuleDeployment
    >>> m = WasmModuleDeployment.model_validate({
    ...     "apiVersion": "wasmops.dev/v1alpha1", "kind": "WasmModuleDeployment",
    ...     "metadata": {"name": "greet", "namespace": "dev", "labels": {"team": "core", "project": "hello"}},
    ...     "spec": {"moduleRef": {"repository": "greet", "tag": "v1", "digest": "sha256:" + "a" * 64},
    ...              "runtimeConfig": {"resources": {"cpu": "100m", "memory": "16Mi"}}}})
    >>> m.key, m.fuel_per_request, m.memory_bytes
    ('dev/greet', 100000000, 16777216)
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~7x faster on 10k manifests
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from wasmops.errors import SpecError, spec_error_from_pydantic
from wasmops.gitops.rollout import Rollout
from wasmops.units import parse_cpu_millis, parse_size
from wasmops.wasm.scratch import Scratch
from wasmops.wasm.shape import MAX_FUEL, run_args, success_exit_codes as check_exit_codes

API_VERSION = "wasmops.dev/v1alpha1"
#: Set by a release's commit while it waits for a person's approval (the flow run's id): reconcilers
#: keep what the host runs for the module until the approval's commit removes it.
AWAITING_APPROVAL = "wasmops.dev/awaiting-approval"
FUEL_PER_MILLICORE = 1_000_000  # 100m of CPU = 1e8 fuel per request
NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
DIGEST = r"^sha256:[0-9a-f]{64}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Metadata(_Model):
    name: str = Field(pattern=NAME, description="Module name, unique in its namespace.")
    namespace: str = Field("default", pattern=NAME, description="Namespace on the host.")
    labels: dict[str, str] = Field(default_factory=dict, description="Must include team and project.")
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("labels")
    @classmethod
    def _team_project(cls, v: dict[str, str]) -> dict[str, str]:
        missing = [k for k in ("team", "project") if not v.get(k)]
        if missing:
            raise ValueError(f"labels must include {', '.join(missing)} (used for cost attribution)")
        return v


class ModuleRef(_Model):
    repository: str = Field(description="A repository name resolved against the workspace registry, "
                                         "or a full base such as oci://host:5000/team/mod.")
    tag: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
    digest: str | None = Field(None, pattern=DIGEST, description="OCI manifest digest; required to deploy.")


class Resources(_Model):
    cpu: str = Field("100m", description="CPU per request; fuel = millicores × 1e6.")
    memory: str = Field("16Mi", description="Linear memory limit per instance.")

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, v):
        if parse_cpu_millis(v) * FUEL_PER_MILLICORE > MAX_FUEL:
            raise ValueError(f"{v} is over the host's cap of {MAX_FUEL // FUEL_PER_MILLICORE}m "
                             f"({MAX_FUEL} fuel) per request")
        return v

    @field_validator("memory")
    @classmethod
    def _mem(cls, v):
        parse_size(v)
        return v


class RuntimeConfig(_Model):
    resources: Resources = Field(default_factory=Resources)
    env: dict[str, str] = Field(default_factory=dict)
    trust_level: Literal["sandboxed", "standard", "trusted"] = Field("sandboxed", alias="trustLevel")
    timeout_ms: int = Field(2000, gt=0, alias="timeoutMs")
    max_stdout: str = Field("1Mi", alias="maxStdout")
    success_exit_codes: Annotated[list[int], AfterValidator(check_exit_codes)] = Field(
        default_factory=list, alias="successExitCodes",
        description="Exit codes (1..125) besides 0 that mean success (a SAT solver's 10 and 20, grep's 1): the host "
                    "answers 200 and does not count them as errors")
    args: Annotated[list[str], AfterValidator(run_args)] = Field(
        default_factory=list,
        description="Fixed arguments every run of the deployment gets after argv[0] (a subcommand, `-o -`, "
                    "`--format json`): at most 64, 16 KiB together, no NUL byte")
    scratch: Scratch | None = Field(
        None, description="A fresh directory for every run, preopened read-write at `path` and removed after it, "
                          "at most `maxBytes` (16Mi by default); `inputFile` holds the request body, `outputFile` "
                          "is the response of a run that succeeded (wasmops.wasm.scratch). None: no directory")


class PolicyBinding(_Model):
    name: str
    enforcement_level: Literal["strict", "advisory"] = Field("strict", alias="enforcementLevel")


class VerifySpec(_Model):
    allow_unverified: bool = Field(
        False, alias="allowUnverified",
        description="Count a release as verified even when none of its test cases can run through the host "
                    "(every case needs other env or args). Off by default: such a release is not verified.")


class DeploymentSpec(_Model):
    environment: Literal["dev", "prod"] = "dev"
    replicas: int = Field(1, ge=0, le=1000)
    module_ref: ModuleRef = Field(alias="moduleRef")
    runtime_config: RuntimeConfig = Field(default_factory=RuntimeConfig, alias="runtimeConfig")
    policies: list[PolicyBinding] = Field(default_factory=list)
    source: str | None = Field(None, description="Module source directory, relative to the source repo.")
    verify: VerifySpec = Field(default_factory=VerifySpec)
    rollout: Rollout = Field(default_factory=Rollout, description="replace (default) or a canary in steps; "
                                                                   "see docs/spec/WasmModuleDeployment.md")


class WasmModuleDeployment(_Model):
    api_version: Literal["wasmops.dev/v1alpha1"] = Field(API_VERSION, alias="apiVersion")
    kind: Literal["WasmModuleDeployment"] = "WasmModuleDeployment"
    metadata: Metadata
    spec: DeploymentSpec

    @property
    def key(self) -> str:
        return f"{self.metadata.namespace}/{self.metadata.name}"

    @property
    def awaiting_approval(self) -> str | None:
        """The release run whose approval this manifest's moduleRef waits for (None: none)."""
        return self.metadata.annotations.get(AWAITING_APPROVAL)

    @property
    def fuel_per_request(self) -> int:
        return parse_cpu_millis(self.spec.runtime_config.resources.cpu) * FUEL_PER_MILLICORE

    @property
    def memory_bytes(self) -> int:
        return parse_size(self.spec.runtime_config.resources.memory)

    def host_limits(self) -> dict:
        rc = self.spec.runtime_config
        return {"fuel": self.fuel_per_request, "memory": self.memory_bytes, "timeout_ms": rc.timeout_ms,
                "max_stdout": parse_size(rc.max_stdout)}

    def requires_approval(self) -> bool:
        """Policy: always for prod; for dev only when a strict ``require-approval`` policy is bound."""
        if self.spec.environment == "prod":
            return True
        return any(p.name == "require-approval" and p.enforcement_level == "strict" for p in self.spec.policies)


class BudgetSpec(_Model):
    scope: Literal["team", "project"]
    name: str = Field(description="The team or project label value.")
    monthly_amount: Decimal = Field(alias="monthlyAmount", gt=0)
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    enforcement_level: Literal["strict", "advisory"] = Field("advisory", alias="enforcementLevel")
    alert_thresholds: list[int] = Field(default_factory=lambda: [80, 100], alias="alertThresholds")


class Budget(_Model):
    api_version: Literal["wasmops.dev/v1alpha1"] = Field(API_VERSION, alias="apiVersion")
    kind: Literal["Budget"] = "Budget"
    metadata: dict = Field(default_factory=dict)
    spec: BudgetSpec
    _source: str | None = PrivateAttr(None)      # the file it was read from (errors name it)

    @property
    def source(self) -> str:
        return self._source or f"budgets/{self.metadata.get('name', self.spec.name)}"


class Price(_Model):
    unit: Literal["fuel-million", "memory-gib-hour", "invocations-million", "storage-gb-month"]
    amount: Decimal = Field(ge=0)
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    effective_date: date = Field(alias="effectiveDate")


class PriceSheetSpec(_Model):
    prices: list[Price] = Field(min_length=1)


class PriceSheet(_Model):
    api_version: Literal["wasmops.dev/v1alpha1"] = Field(API_VERSION, alias="apiVersion")
    kind: Literal["PriceSheet"] = "PriceSheet"
    metadata: dict = Field(default_factory=dict)
    spec: PriceSheetSpec


KINDS: dict[str, type[BaseModel]] = {
    "WasmModuleDeployment": WasmModuleDeployment, "Budget": Budget, "PriceSheet": PriceSheet,
}


def load_document(path: str | Path, kind: type[BaseModel] | None = None):
    """Load one YAML document; errors name the file and the field."""
    p = Path(path)
    try:
        data = yaml.load(p.read_text(), Loader=_Loader)
    except FileNotFoundError as exc:
        raise SpecError("file not found", where=str(p)) from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"not valid YAML: {exc}", where=str(p)) from exc
    if not isinstance(data, dict):
        raise SpecError("expected a mapping at the top level", where=str(p))
    model = kind or KINDS.get(data.get("kind", ""))
    if model is None:
        raise SpecError(f"kind: unknown kind {data.get('kind')!r}; expected one of {sorted(KINDS)}", where=str(p))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise spec_error_from_pydantic(exc, str(p)) from exc


def dump_document(doc: BaseModel) -> str:
    data = doc.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(data.get("spec"), dict) and data["spec"].get("rollout") == {"strategy": "replace", "steps": []}:
        del data["spec"]["rollout"]     # the default: manifests written before rollouts existed stay as they were
    return yaml.safe_dump(data, sort_keys=False)
