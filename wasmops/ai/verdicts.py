"""AI verdicts on telemetry: ``ok``, ``anomalous`` or ``hold``, each explained and recorded.

The telemetry must pass its Great Expectations suite first. A module whose own rows fail it gets
``hold`` naming those rows, and the other modules are judged on theirs; a failure no module's rows
explain (columns, types, an empty or stale window) holds every subject: nobody acts automatically
on bad data. The scorer is any
object with ``explain(df) -> [Explanation]`` (``models.anomaly.AnomalyModel``); the core does not
import the ML package::

    >>> from wasmops.ai.verdicts import judge
    >>> from wasmops.telemetry import synthesize
    >>> from wasmops.telemetry.validate import ValidationOutcome
    >>> samples = synthesize(modules=2, days=1)
    >>> info = {"name": "wasmops-anomaly", "version": "3"}
    >>> bad = ValidationOutcome(success=False, result_id="sha256:0", stats={},       # what GX found
    ...                         failed=[{"type": "expect_column_values_to_not_be_null", "column": "fuel"}])
    >>> [(v.subject, v.verdict, v.explanation) for v in judge(samples, bad, None, info)][0]
    ('prod/mod-000', 'hold', 'telemetry failed validation (1 check): column_values_to_not_be_null(fuel)')
    >>> good = ValidationOutcome(success=True, result_id="sha256:0", stats={}, failed=[])
    >>> judge(samples, good, None, info)[0].explanation
    'no champion anomaly model is registered yet'

With a model trained on two weeks of the same modules (``models.anomaly.AnomalyModel``; training takes
seconds, so not run here)::

    >>> model = AnomalyModel().fit(synthesize(modules=2, days=14, anomaly_rate=0))   # doctest: +SKIP
    >>> [(v.subject, v.verdict) for v in judge(samples, good, model, info)]   # doctest: +SKIP
    [('prod/mod-000', 'ok'), ('prod/mod-001', 'ok')]
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import pandas as pd

from wasmops.gitops.decisions import Decision
from wasmops.digests import sha256_bytes, short

from .hold_reasons import series_future_note, series_reason, validation_reason

RULE = "anomalous when at least half of a version's windows score above the model threshold"


@dataclass
class Verdict:
    subject: str                  # ns/module
    digest: str
    verdict: str                  # ok | anomalous | hold
    explanation: str
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def data_digest(df: pd.DataFrame) -> str:
    """A stable digest of the rows a verdict was made on."""
    return sha256_bytes(pd.util.hash_pandas_object(df.reset_index(drop=True), index=False).to_numpy().tobytes())


def data_window(df: pd.DataFrame) -> dict:
    if df.empty:
        return {"rows": 0}
    return {"rows": int(len(df)), "from": str(df["ts"].min()), "to": str(df["ts"].max()), "digest": data_digest(df)}


def _subjects(df: pd.DataFrame) -> list[tuple[str, str, str]]:
    if df.empty:
        return []
    keys = df[["namespace", "module", "digest"]].drop_duplicates()
    return [tuple(r) for r in keys.itertuples(index=False)]


def hold_all(df: pd.DataFrame, reason: str, *, subjects: list[tuple[str, str, str]] | None = None) -> list[Verdict]:
    subs = subjects if subjects is not None else _subjects(df)
    return [Verdict(f"{ns}/{m}", d, "hold", reason) for ns, m, d in subs] or [Verdict("*", "", "hold", reason)]


def judge(df: pd.DataFrame, outcome, scorer, model_info: dict, *, min_share: float = 0.5,
          subjects: list[tuple[str, str, str]] | None = None, min_windows: int = 1,
          window_minutes: float | None = None, store: dict | None = None) -> list[Verdict]:
    """One verdict per (namespace, module, digest) in ``df``.

    ``hold`` (never ok or anomalous) when: the telemetry failed GX (empty, NaN, negative, future or
    duplicate rows); no model is registered; the window is empty; the model has no baseline for the
    module (cold start: less history than the training minimum, or a constant one); the version
    has fewer than ``min_windows`` windows with traffic (the score flow asks for 2: one sample is
    not evidence); or it had no traffic in the window. A validation hold says why in words
    (:func:`.hold_reasons.validation_reason`; ``window_minutes`` and ``store`` sharpen it). Failed
    rows of one module hold that module only (``outcome.held_series``); the others are judged on
    their own rows. A module with rows stamped in the future (``store["future_by_series"]``) is
    judged on its valid rows and its verdict says the others were not judged."""
    if not getattr(outcome, "window_ok", outcome.success):
        return hold_all(df, validation_reason(df, outcome, window_minutes=window_minutes, store=store),
                        subjects=subjects)
    holds, df, subjects = _held_series(df, outcome, subjects)
    rest = [] if holds and df.empty and not subjects else _judge_valid(
        df, scorer, model_info, min_share=min_share, subjects=subjects, min_windows=min_windows)
    return _future_noted(holds + rest, store, getattr(outcome, "now", None))


def _held_series(df: pd.DataFrame, outcome, subjects):
    """``hold`` for each module whose own rows failed GX (:attr:`ValidationOutcome.held_series`),
    naming them; the rest of the window and the other subjects, to be judged as usual."""
    held = getattr(outcome, "held_series", None) or {}
    if not held or df.empty:
        return [], df, subjects
    key = df["namespace"] + "/" + df["module"]
    subs = sorted(set(_subjects(df[key.isin(held).to_numpy()])) | {s for s in subjects or [] if f"{s[0]}/{s[1]}" in held})
    holds = [Verdict(f"{ns}/{m}", d, "hold", series_reason(outcome.failed_for(f"{ns}/{m}")),
                     {"gx_rows": [f.get("rows") for f in held[f"{ns}/{m}"]]}) for ns, m, d in subs]
    keep = None if subjects is None else [s for s in subjects if f"{s[0]}/{s[1]}" not in held]
    return holds, df[~key.isin(held).to_numpy()], keep


def _future_noted(verdicts: list[Verdict], store: dict | None, now) -> list[Verdict]:
    """A module with rows stamped in the future is judged on its valid rows; the verdict says so."""
    for v in verdicts:
        note = series_future_note(store, v.subject, now)
        if note:
            v.explanation = f"{v.explanation}; {note}"
            v.details["future_rows"] = store["future_by_series"][v.subject][0]
    return verdicts


def _knows(scaler, key: str) -> bool:
    """Whether the model has a baseline of its own for ``namespace/module`` (the scaler's ``knows``
    also finds the baselines of a model trained before they were keyed by namespace)."""
    if hasattr(scaler, "knows"):
        return bool(scaler.knows([key])[0])
    return key in set(map(str, scaler.modules_))


def _judge_valid(df: pd.DataFrame, scorer, model_info: dict, *, min_share: float,
                 subjects: list[tuple[str, str, str]] | None, min_windows: int) -> list[Verdict]:
    """The verdicts on rows GX passed."""
    if scorer is None:
        return hold_all(df, "no champion anomaly model is registered yet", subjects=subjects)
    if df.empty:
        return hold_all(df, "no telemetry in the window", subjects=subjects)
    active = df[df["invocations"] > 0]
    scaler = getattr(scorer, "scaler_", None)
    known = getattr(scaler, "modules_", None)
    out = []
    for (ns, mod, dig), rows in active.groupby(["namespace", "module", "digest"], sort=True):
        if known is not None and not _knows(scaler, f"{ns}/{mod}"):   # baselines are per namespace/module
            # Judging a module against other modules' baselines gives false alarms: hold instead.
            out.append(Verdict(f"{ns}/{mod}", str(dig), "hold",
                               f"the model (v{model_info.get('version')}) has no baseline for {ns}/{mod}: it had "
                               "less than the minimum history (or a constant one) at training; its releases "
                               "are judged by the release judge", {"model": model_info}))
            continue
        if len(rows) < min_windows:
            out.append(Verdict(f"{ns}/{mod}", str(dig), "hold",
                               f"{len(rows)} window(s) with traffic; at least {min_windows} needed for a verdict",
                               {"model": model_info, "windows": len(rows)}))
            continue
        exps = scorer.explain(rows)
        flagged = [e for e in exps if e.is_anomaly]
        share = len(flagged) / len(exps)
        worst = max(exps, key=lambda e: e.score)
        top = next(c for c in worst.features if c.feature == worst.top_feature)
        verdict = "anomalous" if share >= min_share else "ok"
        need = max(1, math.ceil(min_share * len(exps) - 1e-9))
        why = (f"{len(flagged)}/{len(exps)} windows above threshold {worst.threshold:.3f} (anomalous from {need}: a "
               f"lasting change, not one window); {top.feature} {top.value:.4g} vs baseline {top.baseline:.4g} "
               f"(z={top.z:+.1f}) moved most")
        out.append(Verdict(f"{ns}/{mod}", str(dig), verdict, why, {
            "share": share, "windows": len(exps), "score": worst.score, "threshold": worst.threshold,
            "top_feature": top.feature, "value": top.value, "baseline": top.baseline, "z": top.z,
            "contributions": {c.feature: {"value": c.value, "baseline": c.baseline, "z": c.z,
                                          "score_delta": c.score_delta} for c in worst.features},
            "model": model_info}))
    seen = {(v.subject, v.digest) for v in out}
    for ns, mod, dig in subjects or []:
        if (f"{ns}/{mod}", dig) not in seen:
            out.append(Verdict(f"{ns}/{mod}", dig, "hold", "no traffic for this version in the window"))
    return out


def to_decision(v: Verdict, *, outcome, model_info: dict, window: dict, action: str, actor: str = "wasmops",
                rule: str = RULE, flow_run_id: str | None = None) -> Decision:
    return Decision(
        kind="anomaly", subject=v.subject, verdict=v.verdict, actor=actor, policy_rule=rule, action=action,
        explanation=v.explanation, digest=v.digest or None, model=model_info,
        data={**window, **_gx_data(outcome, v.subject)},
        inputs={k: v.details.get(k) for k in ("windows", "value", "baseline", "z")},
        output={k: v.details.get(k) for k in ("share", "score", "threshold", "top_feature", "contributions")},
        flow_run_id=flow_run_id)


def _gx_data(outcome, subject: str) -> dict:
    """The GX result as it concerns ``subject``: another module's failed rows are not its failure
    (``gx_held_series`` lists the modules held for their own rows)."""
    failed = outcome.failed_for(subject) if hasattr(outcome, "failed_for") else getattr(outcome, "failed", [])
    held = sorted(getattr(outcome, "held_series", None) or {})
    return {"gx_result_id": getattr(outcome, "result_id", None),
            "gx_success": not failed if getattr(outcome, "window_ok", False) else getattr(outcome, "success", None),
            "gx_failed": [f"{f['type']}:{f.get('column')}" for f in failed][:20],
            **({"gx_held_series": held} if held else {})}


def markdown(verdicts: list[Verdict]) -> str:
    # Plain text only: the Prefect UI's font has no emoji (an icon column rendered as empty boxes).
    lines = ["| module | manifest digest | verdict | explanation |", "|---|---|---|---|"]
    for v in verdicts:
        lines.append(f"| `{v.subject}` | `{short(v.digest or None)}` | **{v.verdict}** | "
                     f"{' '.join(v.explanation.replace('|', '/').splitlines())} |")   # any line break (\u2028 too) ends a row
    return "\n".join(lines) + "\n"
