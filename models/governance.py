"""Model governance: the champion alias with a history, challengers in shadow, labelled comparisons.

Example::

    >>> from models.governance import set_champion, champion_at, compare
    >>> from wasmops.gitops.decisions import Decision, list_decisions
    >>> def promotion(version, at, verdict="promoted"):       # what set_champion records in Git
    ...     return Decision(kind="promotion", subject="wasmops-anomaly", verdict=verdict, explanation=f"v{version}",
    ...                     output={"version": version, "at": at})
    >>> records = [promotion("3", "2025-05-01T00:00Z"), promotion("3", "2025-06-10T00:00Z", "demoted"),
    ...            promotion("4", "2025-06-10T00:00Z")]
    >>> champion_at(records, "wasmops-anomaly", "2025-06-01T12:00Z")
    {'version': '3', 'since': '2025-05-01T00:00Z', 'reason': 'v3'}
    >>> champion_at(records, "wasmops-anomaly", "2025-06-11")["version"]
    '4'
    >>> champion_at(records, "wasmops-anomaly", "2025-01-01") is None
    True

With an MLflow client (``models.registry``) and the workspace's GitOps repo::

    >>> set_champion(client, "wasmops-anomaly", "4", reason="better than v3", decisions_dir=gitops)  # doctest: +SKIP
    '3'
    >>> champion_at(list_decisions(gitops, kind="promotion"), "wasmops-anomaly", "2025-06-01T12:00Z")  # doctest: +SKIP
    >>> compare(list_decisions(gitops, shadow=None))   # champion vs challenger on labelled verdicts  # doctest: +SKIP

MLflow aliases have no history (mlflow#2169). Every move of ``@champion`` made here is recorded
twice: a decision record of kind ``promotion`` in Git (verdict ``promoted`` for the new version,
``demoted`` for the one it replaced) and model-version tags (``champion.promoted_at``,
``champion.demoted_at`` and the JSON list ``champion.history``). :func:`champion_at` replays the
Git records to answer "which version was champion at T".

A challenger is the latest registered version that is not the champion. The score flow runs it
beside the champion and records its verdicts with ``shadow: true``; nothing acts on them.
Operators label verdicts (``wasmops decisions label``) and :func:`compare` counts, per model
version, how often each agreed with the labels on the same scoring runs.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from wasmops.gitops.decisions import LABELLED_KINDS, Decision, has_model, record

CHAMPION = "champion"
RULE = ("a candidate becomes @champion only if it beats the champion on the same holdout; a model "
        "trained on synthetic telemetry only when the workspace allows it (--allow-synthetic)")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def champion_version(client, name: str) -> str | None:
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def challenger_version(client, name: str) -> str | None:
    """The latest registered version of ``name`` that is not ``@champion`` (None when there is none)."""
    champ = champion_version(client, name)
    versions = [int(mv.version) for mv in client.search_model_versions(f"name='{name}'")]
    others = [v for v in versions if str(v) != champ]
    return str(max(others)) if others else None


def _tag_event(client, name: str, version: str, event: str, at: str, reason: str) -> None:
    mv = client.get_model_version(name, version)
    hist = json.loads(mv.tags.get("champion.history", "[]"))
    hist.append({"event": event, "at": at, "reason": reason[:200]})
    client.set_model_version_tag(name, version, f"champion.{event}_at", at)
    client.set_model_version_tag(name, version, "champion.history", json.dumps(hist)[-4900:])


def set_champion(client, name: str, version: str, *, reason: str, actor: str = "wasmops",
                 decisions_dir: str | Path | None = None, commit: bool = True,
                 data: dict | None = None) -> str | None:
    """Move ``@champion`` of ``name`` to ``version``; record the demotion of the previous champion
    and the promotion (tags, and decision records in ``decisions_dir`` when given; ``data``: the new
    champion's training data, e.g. ``synthetic``, in the promotion record). Returns the previous
    champion version."""
    prev = champion_version(client, name)
    if prev == str(version):
        return prev
    at = _now()
    client.set_registered_model_alias(name, CHAMPION, str(version))
    events = ([("demoted", prev, f"replaced by v{version}: {reason}")] if prev else []) + \
             [("promoted", str(version), reason)]
    for event, v, why in events:
        _tag_event(client, name, v, event, at, why)
        if decisions_dir is not None:
            record(decisions_dir, Decision(
                kind="promotion", subject=name, verdict=event, actor=actor, policy_rule=RULE, explanation=why,
                action=f"alias @{CHAMPION} {'set to' if event == 'promoted' else 'moved off'} v{v}",
                model={"name": name, "version": v, "alias": CHAMPION},
                data=dict(data or {}) if event == "promoted" else {},
                output={"version": v, "event": event, "previous": prev, "champion": str(version), "at": at}),
                commit=commit)
    return prev


# ----------------------------------------------------------------------------------------------
# Alias history

def _utc(t) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def alias_events(decisions: list[Decision], name: str | None = None) -> list[dict]:
    """Promotion/demotion records, oldest first: at, model, version, event, actor, reason."""
    out = [{"at": d.output.get("at") or d.at, "model": d.subject, "version": str(d.output.get("version")),
            "event": d.verdict, "actor": d.actor, "reason": d.explanation}
           for d in decisions if d.kind == "promotion" and (name is None or d.subject == name)]
    return sorted(out, key=lambda e: (_utc(e["at"]), e["event"] == "promoted"))


def champion_at(decisions: list[Decision], name: str, at) -> dict | None:
    """The champion of ``name`` at time ``at`` from the Git records: {version, since, reason}, or None."""
    t, state = _utc(at), None
    for e in alias_events(decisions, name):
        if _utc(e["at"]) > t:
            break
        if e["event"] == "promoted":
            state = {"version": e["version"], "since": e["at"], "reason": e["reason"]}
        elif state and state["version"] == e["version"]:
            state = None
    return state


# ----------------------------------------------------------------------------------------------
# Champion vs challenger on labelled verdicts

def _truths(decisions: list[Decision]) -> dict[str, str]:
    """decision id -> the verdict it should have had (the newest label of it wins)."""
    out: dict[str, str] = {}
    for d in sorted((d for d in decisions if d.kind == "label" and d.refers_to), key=lambda d: d.at):
        truth = d.output.get("truth")
        if truth:
            out[d.refers_to] = truth
        else:
            out.pop(d.refers_to, None)
    return out


def compare(decisions: list[Decision]) -> list[dict]:
    """Per model version and role (champion / challenger): verdicts on labelled scoring runs,
    agreeing with the label, disagreeing, and held (no opinion). A label on either side's verdict
    is the truth for both verdicts of that run (same subject and digest). Verdicts no model made
    (a hold recorded before any champion existed) are left out: labels written before
    ``decisions label`` refused them must not break the comparison."""
    by_id = {d.id: d for d in decisions}
    shadows: dict[str, list[Decision]] = {}
    for d in decisions:
        if d.shadow and d.refers_to:
            shadows.setdefault(d.refers_to, []).append(d)
    judged: dict[str, str] = {}                      # champion decision id -> truth
    for ref, truth in _truths(decisions).items():
        d = by_id.get(ref)
        if d is None or d.kind not in LABELLED_KINDS or not has_model(d):   # a hold with no model: no row
            continue
        judged[d.refers_to if d.shadow else d.id] = truth
    stats: dict[tuple, dict] = {}
    for cid, truth in judged.items():
        group = ([by_id[cid]] if cid in by_id else []) + shadows.get(cid, [])
        for d in (d for d in group if has_model(d)):
            key = ("challenger" if d.shadow else "champion", d.model.get("name"), str(d.model.get("version")))
            row = stats.setdefault(key, {"labelled": 0, "agree": 0, "disagree": 0, "hold": 0})
            row["labelled"] += 1
            row["hold" if d.verdict == "hold" else ("agree" if d.verdict == truth else "disagree")] += 1
    rows = []
    for (role, name, version), r in sorted(stats.items()):
        decided = r["agree"] + r["disagree"]
        rows.append({"role": role, "model": name, "version": version, **r,
                     "agreement": round(r["agree"] / decided, 3) if decided else None})
    return rows
