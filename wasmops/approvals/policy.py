"""``ApprovalPolicy``: who must approve a release of which targets, read from the GitOps repo.

Layout in the GitOps repo::

    approvals/policies/<name>.yaml     one ApprovalPolicy per file (.yaml or .yml)
    approvers/<group>/<name>.pub       an approver's ECDSA P-256 public key (PEM); <name> is the person

Example::

    >>> from wasmops.approvals.policy import ApprovalPolicy
    >>> p = ApprovalPolicy.model_validate({"kind": "ApprovalPolicy", "metadata": {"name": "prod-sre"},
    ...     "spec": {"selector": {"namespaces": ["prod"]}, "rules": [{"group": "sre", "count": 2}]}})
    >>> p.spec.expiry_s, p.spec.on_timeout, p.spec.allow_self_approval, p.spec.allow_unsigned
    (3600, 'reject', False, False)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import SpecError
from ..yamldoc import parse

API_VERSION = "wasmops.dev/v1alpha1"
POLICY_DIR = "approvals/policies"
APPROVERS_DIR = "approvers"
NAME = r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$"
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str | int) -> int:
    """Seconds from ``90``, ``45s``, ``30m``, ``1h30m``, ``2d``. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("a duration must be seconds or a string like 30m, 1h, 2h30m")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("a duration must be positive")
        return value
    s = str(value).strip()
    parts = _DURATION.findall(s)
    if not parts or "".join(n + u for n, u in parts) != s:
        raise ValueError(f"{value!r} is not a duration; use 45s, 30m, 1h or 2h30m")
    total = sum(int(n) * _UNIT_S[u] for n, u in parts)
    if total < 1:
        raise ValueError("a duration must be at least 1s")
    return int(total)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Selector(_Model):
    """Which targets the policy covers. Every non-empty field must match; an empty selector covers all."""

    namespaces: list[str] = Field(default_factory=list, description="Any of these namespaces.")
    environments: list[Literal["dev", "prod"]] = Field(default_factory=list,
                                                        description="Any of these spec.environment values.")
    match_labels: dict[str, str] = Field(default_factory=dict, alias="matchLabels",
                                         description="All of these metadata.labels.")

    def covers(self, namespace: str, environment: str, labels: dict[str, str]) -> bool:
        return ((not self.namespaces or namespace in self.namespaces)
                and (not self.environments or environment in self.environments)
                and all(labels.get(k) == v for k, v in self.match_labels.items()))


class Rule(_Model):
    """``count`` distinct approvers from ``group`` (the public keys in ``approvers/<group>/``)."""

    group: str = Field(pattern=NAME)
    count: int = Field(1, ge=1, le=100)


class ApprovalPolicySpec(_Model):
    selector: Selector = Field(default_factory=Selector)
    rules: list[Rule] = Field(min_length=1, description="All must hold, e.g. 2 of sre and 1 of security. "
                                                       "One approver fills one slot of one rule.")
    expiry: str = Field("1h", description="An approval older than this (by its signed time) does not count.")
    require_reason: bool = Field(True, alias="requireReason", description="Refuse answers without a reason.")
    allow_self_approval: bool = Field(False, alias="allowSelfApproval",
                                      description="May the person who started the release approve it?")
    allow_unsigned: bool = Field(False, alias="allowUnsigned",
                                 description="Does an unsigned answer (the Prefect form, `wasmops approve` "
                                             "without --key) approve on its own?")
    on_timeout: Literal["reject", "approve"] = Field("reject", alias="onTimeout",
                                                     description="What happens when the approval times out.")

    @field_validator("expiry")
    @classmethod
    def _expiry(cls, v: str) -> str:
        parse_duration(v)
        return v

    @field_validator("rules")
    @classmethod
    def _unique_groups(cls, v: list[Rule]) -> list[Rule]:
        seen: set[str] = set()
        for r in v:
            if r.group in seen:
                raise ValueError(f"group {r.group} has two rules; give it one rule with the total count")
            seen.add(r.group)
        return v

    @property
    def expiry_s(self) -> int:
        return parse_duration(self.expiry)


class PolicyMetadata(_Model):
    name: str = Field(pattern=NAME)
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class ApprovalPolicy(_Model):
    api_version: Literal["wasmops.dev/v1alpha1"] = Field(API_VERSION, alias="apiVersion")
    kind: Literal["ApprovalPolicy"] = "ApprovalPolicy"
    metadata: PolicyMetadata
    spec: ApprovalPolicySpec

    @property
    def name(self) -> str:
        return self.metadata.name

    def covers(self, manifest) -> bool:
        """Does this policy cover the ``WasmModuleDeployment`` ``manifest``?"""
        md = manifest.metadata
        return self.spec.selector.covers(md.namespace, manifest.spec.environment, md.labels)

    def describe(self) -> str:
        """``2 of sre and 1 of security``."""
        return " and ".join(f"{r.count} of {r.group}" for r in self.spec.rules)


@dataclass
class ApprovalConfig:
    """Every ApprovalPolicy and approver key in the repo at one revision."""

    revision: str | None = None
    policies: list[ApprovalPolicy] = field(default_factory=list)
    groups: dict[str, dict[str, bytes]] = field(default_factory=dict)   # group -> name -> PEM
    errors: list[str] = field(default_factory=list)                      # "file: problem"

    def covering(self, manifest) -> list[ApprovalPolicy]:
        """The policies that cover ``manifest``. A broken policy file fails closed: it may have
        covered this target, so a SpecError names it and nothing is approved until it is fixed."""
        broken = [e for e in self.errors if e.startswith(POLICY_DIR)]
        if broken:
            raise SpecError("broken ApprovalPolicy: " + "; ".join(broken), where=POLICY_DIR,
                            hint="fix the file in Git and commit; no release is approved meanwhile")
        return [p for p in self.policies if p.covers(manifest)]


def _is_policy(rel: str) -> bool:
    return rel.startswith(POLICY_DIR + "/") and rel.count("/") == 2 and rel.endswith((".yaml", ".yml"))


def _approver(rel: str) -> tuple[str, str] | None:
    parts = rel.split("/")
    if len(parts) == 3 and parts[0] == APPROVERS_DIR and parts[2].endswith(".pub"):
        return parts[1], parts[2][: -len(".pub")]
    return None


def _add(cfg: ApprovalConfig, rel: str, data: bytes) -> None:
    if _is_policy(rel):
        try:
            cfg.policies.append(parse(data.decode("utf-8", "replace"), rel, ApprovalPolicy))
        except SpecError as exc:
            cfg.errors.append(f"{rel}: {exc.message}")
        return
    who = _approver(rel)
    if who:
        from wasmops.supply.signing import key_id

        try:
            key_id(data)
        except Exception as exc:  # noqa: BLE001 - one bad key must not hide the others
            cfg.errors.append(f"{rel}: {exc}")
            return
        cfg.groups.setdefault(who[0], {})[who[1]] = data


def _finish(cfg: ApprovalConfig) -> ApprovalConfig:
    names = [p.name for p in cfg.policies]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        cfg.errors.append(f"{POLICY_DIR}: ApprovalPolicy {dup} is defined more than once")
    cfg.policies.sort(key=lambda p: p.name)
    return cfg


def load_approval_config_at(repo_dir: str | Path, revision: str = "HEAD") -> ApprovalConfig:
    """Policies and approver keys at a commit, read from Git objects (uncommitted edits are never seen)."""
    import git

    from ..errors import NotFound

    try:
        commit = git.Repo(repo_dir).commit(revision)
    except (git.BadName, ValueError) as exc:
        raise NotFound(f"no commit {revision!r} in the GitOps repo", where=str(repo_dir)) from exc
    cfg = ApprovalConfig(revision=commit.hexsha)
    for obj in commit.tree.traverse():
        if obj.type == "blob" and (_is_policy(obj.path) or _approver(obj.path)):
            _add(cfg, obj.path, obj.data_stream.read())
    return _finish(cfg)


def load_approval_config(root: str | Path) -> ApprovalConfig:
    """Policies and approver keys in a directory (a checkout, or the ``deployments/`` seed)."""
    root = Path(root)
    cfg = ApprovalConfig()
    for p in sorted([*root.glob(f"{POLICY_DIR}/*"), *root.glob(f"{APPROVERS_DIR}/*/*.pub")]):
        rel = p.relative_to(root).as_posix()
        if p.is_file():
            _add(cfg, rel, p.read_bytes())
    return _finish(cfg)
