"""Label selectors, as Kubernetes writes them: which manifests (and live modules) an agent owns.

    >>> from wasmops.gitops.selector import Selector
    >>> sel = Selector.parse("env=edge,region in (eu, us),!canary")
    >>> sel.matches({"env": "edge", "region": "eu"}), sel.matches({"env": "core", "region": "eu"})
    (True, False)
    >>> str(sel)
    'env=edge,region in (eu,us),!canary'

Requirements, all of which must hold: ``k=v`` (or ``k==v``), ``k!=v`` (also true when ``k`` is
absent), ``k in (a,b)``, ``k notin (a,b)``, ``k`` (present), ``!k`` (absent). An empty selector
matches everything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wasmops.gitops.desired import Deployments, DesiredState
from wasmops.errors import UserError

_KEY = r"[A-Za-z0-9]([A-Za-z0-9_.\-/]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([A-Za-z0-9_.\-]*[A-Za-z0-9])?)?"
_SET = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s*\(([^)]*)\)\s*$")
_EQ = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*$")
_EXISTS = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    op: str                      # = != in notin exists !exists
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        v = labels.get(self.key)
        if self.op in ("=", "in"):
            return v is not None and v in self.values
        if self.op in ("!=", "notin"):
            return v is None or v not in self.values
        return (v is not None) == (self.op == "exists")

    def __str__(self) -> str:
        if self.op in ("in", "notin"):
            return f"{self.key} {self.op} ({','.join(self.values)})"
        if self.op in ("=", "!="):
            return f"{self.key}{self.op}{self.values[0]}"
        return self.key if self.op == "exists" else f"!{self.key}"


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [p for p in (*parts, cur) if p.strip()]


def _requirement(part: str) -> Requirement:
    if m := _SET.match(part):
        values = tuple(sorted(v.strip() for v in m.group(4).split(",") if v.strip()))
        if not values:
            raise UserError(f"selector: {part.strip()!r} has an empty set")
        return Requirement(m.group(1), m.group(3), values)
    if m := _EQ.match(part):
        return Requirement(m.group(1), "!=" if m.group(3) == "!=" else "=", (m.group(4),))
    if m := _EXISTS.match(part):
        return Requirement(m.group(2), "!exists" if m.group(1) else "exists")
    raise UserError(f"selector: cannot read {part.strip()!r}",
                    hint="write key=value, key!=value, key in (a,b), key notin (a,b), key or !key, comma-separated")


@dataclass(frozen=True, slots=True)
class Selector:
    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> "Selector":
        return cls(tuple(_requirement(p) for p in _split(text or "")))

    def matches(self, labels: dict[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(map(str, self.requirements))


def select(desired: DesiredState, selector: Selector) -> DesiredState:
    """The part of ``desired`` whose manifests match ``selector`` (the same manifest objects).

    Broken module files are all kept: their labels cannot be trusted, and keeping them means a typo
    in a manifest never prunes what a host runs for it (they show as stalled skips)."""
    keep = Deployments({k: m for k, m in desired.deployments.items() if selector.matches(m.metadata.labels)})
    files = {k: desired.files[k] for k in keep if k in desired.files}
    return DesiredState(desired.revision, keep, files=files, quarantine=desired.quarantine,
                        budgets=desired.budgets, pricing=desired.pricing, errors=desired.errors,
                        base_revision=desired.base_revision, changed=desired.changed)
