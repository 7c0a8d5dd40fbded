"""Budget files that cannot do their job: broken ones, and ones that name no team or project in use.

A broken budget file is in ``desired.errors`` (file and field); a budget whose ``spec.name`` names
no team (or project) of any manifest or telemetry sample applies to nothing, which nobody notices
until the bill arrives (a typo: ``cor`` for ``core``). Both are said once per file::

    >>> from wasmops.gitops.manifest import Budget
    >>> b = Budget.model_validate({"spec": {"scope": "team", "name": "cor", "monthlyAmount": "100"}})
    >>> b._source = "budgets/core.yaml"
    >>> unmatched_budgets([b], {"team": {"core", "data"}, "project": set()})
    ["budgets/core.yaml: spec.name: budget for team 'cor' matches no team of any manifest or telemetry sample (did you mean 'core'?); it applies to nothing"]
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

SCOPES = ("team", "project")


def broken_budget_files(desired) -> list:
    """The ``ManifestError`` of every budget file that failed validation (``str()``: ``file: field: problem``)."""
    return [e for e in getattr(desired, "errors", []) if e.kind == "Budget"]


def labels_in_use(desired=None, frames: Iterable = ()) -> dict[str, set[str]]:
    """Team and project names of the manifests in ``desired`` and of the ``team``/``project``
    columns of ``frames`` (telemetry samples or cost rows; None entries are skipped)."""
    known: dict[str, set[str]] = {s: set() for s in SCOPES}
    for m in (getattr(desired, "deployments", None) or {}).values():
        for s in SCOPES:
            if m.metadata.labels.get(s):
                known[s].add(m.metadata.labels[s])
    for df in frames:
        if df is None or not len(df):
            continue
        for s in SCOPES:
            if s in df.columns:
                known[s].update(v for v in df[s].dropna().astype(str).unique() if v)
    return known


def unmatched_budgets(budgets, known: Mapping[str, Iterable[str]]) -> list[str]:
    """One warning per budget whose ``spec.name`` is not a known name of its ``spec.scope``,
    naming the budget file and the field (and the closest known name, when one is close)."""
    budgets = list(getattr(budgets, "budgets", budgets) or [])
    out, seen = [], set()
    for b in budgets:
        scope, name = b.spec.scope, b.spec.name
        names = set(known.get(scope, ()))
        if name in names or (b.source, scope, name) in seen:
            continue
        seen.add((b.source, scope, name))
        close = difflib.get_close_matches(name, sorted(names), n=1)
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        out.append(f"{b.source}: spec.name: budget for {scope} {name!r} matches no {scope} of any manifest or "
                   f"telemetry sample{guess}; it applies to nothing")
    return out


def budget_file_notes(desired, frames: Iterable = ()) -> list[str]:
    """Every broken budget file (it is not checked at all) and every budget that applies to nothing,
    one line each, for a budget check's log."""
    broken = [f"{e} (this budget is not checked until the file is fixed)" for e in broken_budget_files(desired)]
    return broken + unmatched_budgets(desired, labels_in_use(desired, frames))


__all__ = ["broken_budget_files", "budget_file_notes", "labels_in_use", "unmatched_budgets"]
