"""The "last AI verdicts" rows of ``wasmops status``.

One row per verdict a flow run gave a module, with the digests it covers. The score flow judges
every digest of a module that served in its window, so after a few releases one run recorded the
same "hold: no champion anomaly model is registered yet" for five digests, and status showed five
identical rows that named no digest (found from outside, onboarding npm modules)::

    >>> from wasmops.gitops.decisions import Decision
    >>> ds = [Decision(kind="anomaly", subject="dev/m", verdict="hold", explanation="no champion",
    ...                digest=f"sha256:{c * 64}", flow_run_id="r1", at="2026-12-07T14:56:27") for c in "abc"]
    >>> rows = verdict_rows(ds)
    >>> len(rows), rows[0]["digests"][1][:9]
    (1, 'sha256:bb')
"""

from __future__ import annotations


def verdict_rows(ds: list, limit: int = 5) -> list[dict]:
    """Rows for decisions ``ds`` (newest first): anomaly verdicts, and release or canary verdicts a
    person should see, one row per (flow run, kind, module, verdict, explanation)."""
    rows: dict[tuple, dict] = {}
    for d in since_last_pass(ds):
        if not (d.kind == "anomaly" or judged_not_passed(d)):
            continue
        key = (d.flow_run_id or d.at[:19], d.kind, d.subject, d.verdict, d.explanation)
        row = rows.setdefault(key, {"at": d.at[:19], "kind": d.kind, "subject": d.subject, "verdict": d.verdict,
                                    "why": d.explanation, "digests": []})
        if d.digest and d.digest not in row["digests"]:
            row["digests"].append(d.digest)
    return list(rows.values())[:limit]


def digests_cell(digests: list[str]) -> str:
    """The table's digest column: the first digest short, and how many more the row covers."""
    from ..digests import short

    if not digests:
        return "-"
    return short(digests[0]) + (f" +{len(digests) - 1}" if len(digests) > 1 else "")


def since_last_pass(ds: list) -> list:
    """Decision records (newest first) without the release and canary verdicts of a module that a later
    release of it passed: a fail already rolled back and followed by a passing release needs no one."""
    passed: set[str] = set()
    out = []
    for d in ds:
        if d.kind in ("release-verdict", "canary-step") and d.subject in passed:
            continue
        if d.kind == "release-verdict" and d.verdict == "pass":
            passed.add(d.subject)
        out.append(d)
    return out


def judged_not_passed(d) -> bool:
    """A release or canary-step verdict a person should see: fail or hold against a previous digest (a
    first release's hold, with nothing to compare, is routine)."""
    if d.kind == "canary-step":          # a canary aborted or held at a step (found from outside: hidden)
        return d.verdict != "pass"
    return d.kind == "release-verdict" and d.verdict != "pass" and bool((d.data or {}).get("baseline_digest"))
