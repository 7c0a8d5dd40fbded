"""Release judge: did the new digest regress against the previous one? (Kayenta-style, pure core)

Example::

    >>> from wasmops.release_judge import judge, JudgePolicy
    >>> v = judge({"latency_p95_ms": old_lat, "error_rate": old_err},      # doctest: +SKIP
    ...           {"latency_p95_ms": new_lat, "error_rate": new_err}, JudgePolicy())
    >>> v.verdict, v.score, v.explanation                          # 'fail', 50.0, '...'  # doctest: +SKIP
    >>> v.to_rows()   # one dict per metric row, for a table artifact / decision record  # doctest: +SKIP

Inputs are per metric the samples of the previous digest (``baseline``) and of the new one
(``canary``) over *matched* windows: the caller picks them (e.g. the hours just before and just after
the rollout, or the same hours of the previous day). Real telemetry is autocorrelated, so pass one
sample per block (e.g. hourly means, :func:`block_means`), and optionally ``history``: the previous
digest's earlier block samples. From ``history`` the judge learns how much that metric's centre moves
between adjacent windows of the canary's length when nothing changed, and a shift must exceed that
too (the *drift allowance*).

Per metric (and per metric's spread, when ``check_spread``):

* a two-sided Mann-Whitney U test (``scipy.stats.mannwhitneyu``) of canary vs baseline;
* the effect: ``(centre_c - centre_b) / max(|centre_b|, abs_floor, 0.25 mean|b|)``, centre = median (``mean``
  for rates, which are mostly zeros), plus Cliff's delta (from U) reported beside it;
* classification: ``NoData`` with fewer than ``min_samples`` finite values on either side;
  ``High``/``Low`` when p < ``alpha`` and |effect| >= max(``min_effect``, drift allowance) and
  |Cliff's delta| >= ``min_cliffs_delta``; else ``Pass``. Only the metric's bad ``direction`` counts
  as a failure (``increase``: latency, fuel, memory, errors are worse when higher).

Score: 100 x (weight of metrics not failing) / (weight of metrics with data). Verdict:

* ``fail`` when a ``critical`` metric fails or the score is below ``marginal_score``;
* ``hold`` when no metric has data, or any metric lacks data (nothing can pass unseen);
* ``pass`` when the score >= ``pass_score``; otherwise ``marginal``.

Bad input: NaN/inf samples are dropped (and counted in ``dropped``); negative values of a metric
declared ``non_negative`` are dropped too; empty, one-sample or too-short series are ``NoData``;
constant or identical samples give p = 1 (Pass); zero centres use ``abs_floor``, so nothing divides
by zero. A metric missing from one side is ``NoData``. Nothing raises on data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

Classification = Literal["Pass", "High", "Low", "NoData"]
Verdict = Literal["pass", "marginal", "fail", "hold"]
#: The effect divides by max(|baseline centre|, abs_floor, LEVEL_FLOOR x mean |baseline|): a median
#: of zero (a mostly-zero metric) does not turn every small change into an infinite shift.
LEVEL_FLOOR = 0.25


class MetricPolicy(BaseModel):
    """How one metric is judged."""

    weight: float = Field(1.0, ge=0, description="weight in the score")
    direction: Literal["increase", "decrease", "either"] = Field(
        "increase", description="which change is a regression")
    critical: bool = Field(True, description="a failure of this metric fails the release")
    centre: Literal["median", "mean"] = Field("median", description="centre used for the effect")
    abs_floor: float = Field(1e-9, gt=0, description="smallest baseline centre the effect divides by")
    min_effect: float | None = Field(None, description="override of the policy's min_effect")
    check_spread: bool = Field(False, description="also judge the spread (|x - baseline median|)")
    non_negative: bool = Field(True, description="negative samples are invalid and dropped")


def _default_metrics() -> dict[str, MetricPolicy]:
    return {
        "latency_p95_ms": MetricPolicy(),
        "fuel_per_call": MetricPolicy(),
        "peak_memory": MetricPolicy(),
        "error_rate": MetricPolicy(weight=2.0, centre="mean", abs_floor=1e-3),
    }


class JudgePolicy(BaseModel):
    """Judge settings (loaded from Git later); every field has a default."""

    metrics: dict[str, MetricPolicy] = Field(default_factory=_default_metrics)
    alpha: float = Field(0.01, gt=0, lt=1, description="per-metric Mann-Whitney significance level")
    min_effect: float = Field(0.2, ge=0, description="smallest relative shift of the centre that fails")
    min_cliffs_delta: float = Field(0.3, ge=0, le=1, description="smallest |Cliff's delta| that fails")
    min_samples: int = Field(8, ge=2, description="fewer finite samples on a side: NoData")
    drift_margin: float = Field(1.0, ge=0, description="multiplies the drift allowance from history")
    pass_score: float = Field(95.0, description="score at or above: pass")
    marginal_score: float = Field(75.0, description="score below: fail")
    default_metric: MetricPolicy = Field(default_factory=MetricPolicy,
                                         description="policy of metrics not listed in `metrics`")

    def metric(self, name: str) -> MetricPolicy:
        base = name.removesuffix(".spread")
        return self.metrics.get(base, self.default_metric)


@dataclass
class MetricResult:
    metric: str
    baseline_median: float
    canary_median: float
    effect: float            # relative shift of the centre (canary vs baseline)
    cliffs_delta: float
    p_value: float
    n_baseline: int
    n_canary: int
    weight: float
    classification: Classification
    threshold: float = float("nan")   # the |effect| needed to fail (min_effect or drift allowance)
    dropped: int = 0                  # invalid samples removed (NaN, inf, negative)
    reason: str = ""


@dataclass
class ReleaseVerdict:
    verdict: Verdict
    score: float
    explanation: str
    metrics: list[MetricResult] = field(default_factory=list)

    def to_rows(self) -> list[dict]:
        """One dict per metric row (for a table artifact or a decision record)."""
        return [{k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else v)
                 for k, v in asdict(m).items()} for m in self.metrics]

    @property
    def failed(self) -> list[str]:
        return [m.metric for m in self.metrics if m.classification in ("High", "Low") and m.reason == "regression"]


# ----------------------------------------------------------------------------------------------

def block_means(values: Sequence[float], block: int) -> np.ndarray:
    """Means of consecutive blocks of ``block`` samples (NaNs ignored; the last partial block is
    kept). One sample per block lowers the autocorrelation the U test assumes away."""
    x = np.asarray(values, dtype=float)
    if block <= 1 or len(x) == 0:
        return x
    out = []
    for i in range(0, len(x), block):
        b = x[i:i + block]
        b = b[np.isfinite(b)]
        out.append(float(b.mean()) if len(b) else math.nan)
    return np.asarray(out)


def _clean(values, non_negative: bool) -> tuple[np.ndarray, int]:
    if values is None:
        return np.zeros(0), 0
    x = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float).ravel()
    ok = np.isfinite(x) & ((x >= 0) if non_negative else True)
    return x[ok], int((~ok).sum())


def _centre(x: np.ndarray, how: str) -> float:
    return float(np.mean(x)) if how == "mean" else float(np.median(x))


def _effect(b: float, c: float, floor: float) -> float:
    return (c - b) / max(abs(b), floor)


def drift_allowance(history, n: int, how: str, floor: float, non_negative: bool = True) -> float:
    """The largest |relative shift| between the centres of adjacent windows of ``n`` samples in
    ``history`` (the old digest's own past): what the metric does when nothing changes."""
    x, _ = _clean(history, non_negative)
    if n < 1 or len(x) < 2 * n:
        return 0.0
    centres = [_centre(x[i:i + n], how) for i in range(0, len(x) - n + 1, n)]
    shifts = [abs(_effect(a, b, floor)) for a, b in zip(centres, centres[1:])]
    return max(shifts) if shifts else 0.0


def _mwu(b: np.ndarray, c: np.ndarray) -> tuple[float, float]:
    """(p-value, Cliff's delta = P(c > b) - P(c < b)); identical constant samples give (1, 0)."""
    from scipy.stats import mannwhitneyu

    if np.ptp(np.concatenate([b, c])) == 0:
        return 1.0, 0.0
    res = mannwhitneyu(c, b, alternative="two-sided", method="asymptotic")
    delta = 2.0 * float(res.statistic) / (len(b) * len(c)) - 1.0
    p = float(res.pvalue)
    return (p if math.isfinite(p) else 1.0), delta


def judge_metric(name: str, baseline, canary, policy: JudgePolicy, history=None) -> MetricResult:
    """Judge one metric row (``name`` ending in ``.spread`` judges the spread of the samples)."""
    mp = policy.metric(name)
    b, db = _clean(baseline, mp.non_negative)
    c, dc = _clean(canary, mp.non_negative)
    h = history
    if name.endswith(".spread") and len(b) and len(c):
        m = float(np.median(b))
        b, c = np.abs(b - m), np.abs(c - m)
        h = None if history is None else np.abs(_clean(history, mp.non_negative)[0] - m)
    how = "median" if name.endswith(".spread") else mp.centre
    row = MetricResult(name, float(np.median(b)) if len(b) else math.nan,
                       float(np.median(c)) if len(c) else math.nan, math.nan, math.nan, math.nan,
                       len(b), len(c), mp.weight, "NoData", dropped=db + dc)
    if len(b) < policy.min_samples or len(c) < policy.min_samples:
        row.reason = f"too few samples (need {policy.min_samples} per side)"
        return row
    cb, cc = _centre(b, how), _centre(c, how)
    floor = max(mp.abs_floor, LEVEL_FLOOR * float(np.mean(np.abs(b))))
    row.effect = _effect(cb, cc, floor)
    row.p_value, row.cliffs_delta = _mwu(b, c)
    need = mp.min_effect if mp.min_effect is not None else policy.min_effect
    if h is not None:
        need = max(need, policy.drift_margin * drift_allowance(h, len(c), how, floor, False))
    row.threshold = need
    moved = (row.p_value < policy.alpha and abs(row.effect) >= need
             and abs(row.cliffs_delta) >= policy.min_cliffs_delta and row.effect * row.cliffs_delta > 0)
    row.classification = ("High" if row.effect > 0 else "Low") if moved else "Pass"
    bad = moved and (mp.direction == "either" or (mp.direction == "increase") == (row.effect > 0))
    row.reason = "regression" if bad else ("improvement" if moved else "no significant change")
    return row


def judge(baseline: Mapping[str, Sequence[float]], canary: Mapping[str, Sequence[float]],
          policy: JudgePolicy | None = None, history: Mapping[str, Sequence[float]] | None = None) -> ReleaseVerdict:
    """Judge a release: per-metric rows, weighted score, verdict (see the module docstring)."""
    policy = policy or JudgePolicy()
    history = history or {}
    rows = []
    for name in sorted(set(baseline) | set(canary)):
        rows.append(judge_metric(name, baseline.get(name), canary.get(name), policy, history.get(name)))
        if policy.metric(name).check_spread:
            rows.append(judge_metric(name + ".spread", baseline.get(name), canary.get(name), policy,
                                     history.get(name)))
    return _summarise(rows, policy)


def _summarise(rows: list[MetricResult], policy: JudgePolicy) -> ReleaseVerdict:
    seen = [r for r in rows if r.classification != "NoData"]
    nodata = [r.metric for r in rows if r.classification == "NoData"]
    bad = [r for r in seen if r.reason == "regression"]
    total = sum(r.weight for r in seen)
    score = 100.0 * (total - sum(r.weight for r in bad)) / total if total > 0 else math.nan
    critical = [r.metric for r in bad if policy.metric(r.metric).critical]
    if not seen:
        verdict, why = "hold", "no metric has enough samples: " + ", ".join(nodata) if nodata else "no metrics"
    elif critical or score < policy.marginal_score:
        worst = max(bad, key=lambda r: abs(r.effect))
        verdict, why = "fail", (f"{worst.metric} {worst.canary_median:.4g} vs {worst.baseline_median:.4g} "
                                f"({worst.effect:+.0%}, p={worst.p_value:.2g}); score {score:.0f}")
    elif nodata:
        verdict, why = "hold", f"no data for {', '.join(nodata)}; the rest passes (score {score:.0f})"
    elif score >= policy.pass_score:
        verdict, why = "pass", f"{len(seen)} metric rows, none regressed (score {score:.0f})"
    else:
        verdict, why = "marginal", (f"non-critical regressions: {', '.join(r.metric for r in bad)} "
                                    f"(score {score:.0f})")
    return ReleaseVerdict(verdict, score, why, rows)
