"""One metric row of the release judge, unpaired: the policies, the row type and the tests.

The lower half of :mod:`wasmops.ai.release_judge` (whose docstring describes the method): the judge
(``release_judge.judge``) and the paired tests (``wasmops.ai.judge_paired``) both build on it, and it
imports neither, so the paired judge does not import the module that calls it::

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> base = rng.normal(10, 1, 200)
    >>> judge_metric("latency_p95_ms", base, base * 2, JudgePolicy()).reason
    'regression'
    >>> judge_metric("latency_p95_ms", base, base, JudgePolicy()).classification
    'Pass'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from wasmops.ai.judge_stats import _abs_dev, _array, _centre, _clean, _effect, _mwu, _p_two_sided, _two_part, drift_allowance

Classification = Literal["Pass", "High", "Low", "NoData"]
#: The effect divides by max(|baseline centre|, abs_floor, LEVEL_FLOOR x mean |baseline|): a median
#: of zero (a mostly-zero metric) does not turn every small change into an infinite shift.
LEVEL_FLOOR = 0.25


class MetricPolicy(BaseModel):
    """How one metric is judged."""

    weight: float = Field(1.0, ge=0, description="weight in the score")
    direction: Literal["increase", "decrease", "either"] = Field(
        "increase", description="which change is a regression")
    critical: bool = Field(True, description="a failure of this metric fails the release")
    kind: Literal["continuous", "proportion"] = Field(
        "continuous", description="proportion: error rates, judged from counts (errors, calls)")
    centre: Literal["median", "mean"] = Field(
        "mean", description="centre of the effect (mean = Kayenta's meanRatio)")
    abs_floor: float = Field(1e-9, gt=0, description="smallest baseline centre the effect divides by")
    min_effect: float | None = Field(None, description="override of the policy's min_effect")
    check_spread: bool = Field(False, description="also judge the spread (Brown-Forsythe row '.spread')")
    non_negative: bool = Field(True, description="negative samples are invalid and dropped")
    calls_per_sample: float | None = Field(
        None, gt=0, description="proportion given as rates: calls behind each rate (1 = 0/1 outcomes)")


def _default_metrics() -> dict[str, MetricPolicy]:
    return {
        "latency_p95_ms": MetricPolicy(check_spread=True),
        "fuel_per_call": MetricPolicy(),
        "peak_memory": MetricPolicy(),
        "error_rate": MetricPolicy(weight=2.0, kind="proportion", abs_floor=1e-3),
    }


class JudgePolicy(BaseModel):
    """Judge settings (loaded from Git later); every field has a default."""

    metrics: dict[str, MetricPolicy] = Field(default_factory=_default_metrics)
    alpha: float = Field(0.001, gt=0, lt=1, description="per-metric-row significance level (0.01 gave 1 "
                         "false rollback in 660 no-change pairs of bench/ai_real.py, 0.001 none)")
    min_effect: float = Field(0.2, ge=0, description="smallest relative shift of the centre that fails")
    min_spread_effect: float = Field(0.3, ge=0, description="smallest relative shift of the spread that fails")
    min_cliffs_delta: float = Field(0.15, ge=0, le=1, description="smallest |Cliff's delta| that fails (U test)")
    min_samples: int = Field(8, ge=2, description="fewer finite samples on a side: NoData")
    min_calls: int = Field(100, ge=1, description="proportions: fewer calls on a side: NoData")
    zero_share: float = Field(0.2, gt=0, le=1, description="pooled share of zeros from which the two-part test is used")
    drift_margin: float = Field(1.0, ge=0, description="multiplies the drift allowance from history")
    pass_score: float = Field(95.0, description="score at or above: pass")
    marginal_score: float = Field(75.0, description="score below: fail")
    max_looks: int = Field(5, ge=1, le=8, description="sequential judging (wasmops.ai.judge_sequential): at "
                           "most this many looks, each on twice the samples of the one before")
    sequential_alpha: float = Field(0.00025, gt=0, lt=1, description="sequential judging: the false-rollback "
                                    "budget per metric row over all looks (each look tests at "
                                    "sequential_alpha / max_looks); 0.001 gave 7 false rollbacks in 5,940 "
                                    "no-change windows of bench/ai_real.py, 0.00025 none")
    rule_out: float = Field(0.5, ge=0, description="a critical continuous metric passes only once a regression "
                            "of this relative size (or its effect floor, if larger) is ruled out; else more "
                            "samples, then a person")
    rule_out_alpha: float = Field(0.05, gt=0, lt=1, description="one-sided level of that rule-out test, spent "
                                  "over max_looks")
    spend_unused_alpha: bool = Field(True, description="sequential judging: a last look taken before max_looks "
                                     "(no more samples: time budget, end of data) also spends what the looks "
                                     "never taken would have (wasmops.ai.judge_sequential.look_alpha)")
    extend_p: float = Field(0.1, gt=0, lt=1, description="a row not significant at alpha but below this p "
                            "with an effect over its floor in the bad direction asks for more samples")
    max_sampling_s: float = Field(300.0, gt=0, description="sequential judging on a host: no further look is "
                                  "taken when it would end after this many seconds of sampling (a slow module "
                                  "at 960 requests a side); the last look taken decides")
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
    n_baseline: int          # samples (proportions: calls)
    n_canary: int
    weight: float
    classification: Classification
    threshold: float = float("nan")   # the |effect| needed to fail (min_effect or drift allowance)
    dropped: int = 0                  # invalid samples removed (NaN, inf, negative)
    reason: str = ""
    test: str = ""                    # mann-whitney | two-part | fisher | quasi-binomial fisher
    baseline_centre: float = float("nan")   # the centre the effect uses (mean, median or pooled rate)
    canary_centre: float = float("nan")


# ----------------------------------------------------------------------------------------------

def _row(name, mp, nb, nc, dropped, b_med=math.nan, c_med=math.nan) -> MetricResult:
    return MetricResult(name, b_med, c_med, math.nan, math.nan, math.nan, nb, nc, mp.weight, "NoData",
                        dropped=dropped)


def _classify(row: MetricResult, mp: MetricPolicy, policy: JudgePolicy, need: float, cliff_floor: float) -> MetricResult:
    row.threshold = need
    moved = (row.p_value < policy.alpha and abs(row.effect) >= need
             and abs(row.cliffs_delta) >= cliff_floor and row.effect * row.cliffs_delta > 0)
    row.classification = ("High" if row.effect > 0 else "Low") if moved else "Pass"
    bad = moved and (mp.direction == "either" or (mp.direction == "increase") == (row.effect > 0))
    row.reason = "regression" if bad else ("improvement" if moved else _why_not(row, policy, need, cliff_floor))
    return row


def _why_not(row: MetricResult, policy: JudgePolicy, need: float, cliff_floor: float) -> str:
    """Why a row did not move: not significant, or significant but too small to matter (the floors)."""
    if not row.p_value < policy.alpha:
        return "no significant change"
    if abs(row.effect) < need:
        return f"significant (p={row.p_value:.2g}) but {row.effect:+.1%} is under the {need:.0%} effect floor"
    if abs(row.cliffs_delta) < cliff_floor:
        return f"significant (p={row.p_value:.2g}) but Cliff's delta {row.cliffs_delta:+.2f} is under the {cliff_floor:.2f} floor"
    return f"significant (p={row.p_value:.2g}) but the mean and the ranks move in opposite directions"


def _counts(values, mp: MetricPolicy) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(errors, calls, dropped) per window, or None when only rates without calls are given."""
    x = _array(values)
    if x.ndim == 2 and x.shape[1] == 2:
        e, n = x[:, 0], x[:, 1]
    elif mp.calls_per_sample is not None:
        r = x.ravel()
        e, n = r * mp.calls_per_sample, np.full(len(r), float(mp.calls_per_sample))
    else:
        return None
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(e) & np.isfinite(n) & (n > 0) & (e >= 0) & (e <= n)
    return e[ok], n[ok], int((~ok).sum())


def _dispersion(groups) -> float:
    """Pearson X^2 / df of per-window counts around each side's pooled rate, at least 1."""
    x2, df = 0.0, 0
    for e, n in groups:
        if len(e) < 2:
            continue
        r = e.sum() / n.sum()
        df += len(e) - 1
        if 0 < r < 1:
            with np.errstate(all="ignore"):   # n·r·(1-r) can underflow for huge n: such terms are left out
                terms = (e - n * r) ** 2 / (n * r * (1 - r))
            x2 += float(np.sum(terms[np.isfinite(terms)]))
    return max(1.0, x2 / df) if df > 0 else 1.0


def _judge_counts(name, mp, policy, eb, nb, ec, nc, dropped) -> MetricResult:
    from scipy.stats import fisher_exact

    with np.errstate(all="ignore"):
        rb_w, rc_w = eb / nb, ec / nc
    with np.errstate(all="ignore"):
        sb, sc = float(nb.sum()), float(nc.sum())
    count = lambda v: int(round(v)) if math.isfinite(v) else -1  # noqa: E731
    row = _row(name, mp, count(sb), count(sc), dropped,
               float(np.median(rb_w)) if len(rb_w) else math.nan,
               float(np.median(rc_w)) if len(rc_w) else math.nan)
    if sb < policy.min_calls or sc < policy.min_calls:
        row.reason = f"too few calls (need {policy.min_calls} per side)"
        return row
    with np.errstate(all="ignore"):
        kb, kc, Nb, Nc = float(eb.sum()), float(ec.sum()), float(nb.sum()), float(nc.sum())
    if not all(math.isfinite(v) for v in (kb, kc, Nb + Nc, 2.0 * (Nb + Nc))):
        row.reason = "counts too large to add up"
        return row
    rb, rc = kb / Nb, kc / Nc
    phi = _dispersion([(eb, nb), (ec, nc)])
    s = 1.0 / phi
    kc_, fc_, kb_, fb_ = kc * s, (Nc - kc) * s, kb * s, (Nb - kb) * s
    tot = kc_ + fc_ + kb_ + fb_
    expected = [(kc_ + fc_) * (kc_ + kb_), (kc_ + fc_) * (fc_ + fb_), (kb_ + fb_) * (kc_ + kb_),
                (kb_ + fb_) * (fc_ + fb_)]
    if kc_ + kb_ <= 0 or fc_ + fb_ <= 0:
        p, how = 1.0, "fisher"
    elif min(expected) / tot >= 10 or tot > 1e6:   # large counts: two-proportion z (continuity-corrected)
        pool = (kc_ + kb_) / tot
        se = math.sqrt(pool * (1 - pool) * (1 / (kc_ + fc_) + 1 / (kb_ + fb_)))
        diff = rc - rb
        z = math.copysign(max(abs(diff) - 0.5 * (1 / (kc_ + fc_) + 1 / (kb_ + fb_)), 0.0), diff) / se if se > 0 else 0.0
        p, how = _p_two_sided(z), "two-proportion z"
    else:
        table = [[round(kc_), round(fc_)], [round(kb_), round(fb_)]]
        p, how = float(fisher_exact(table, alternative="two-sided").pvalue), "fisher"
    row.test = how if phi == 1.0 else f"quasi-binomial {how} (phi {phi:.2g})"
    row.baseline_centre, row.canary_centre = rb, rc
    row.effect = _effect(rb, rc, mp.abs_floor)
    row.cliffs_delta = rc - rb
    row.p_value = p if math.isfinite(p) else 1.0
    need = mp.min_effect if mp.min_effect is not None else policy.min_effect
    return _classify(row, mp, policy, need, 0.0)


def judge_metric(name: str, baseline, canary, policy: JudgePolicy, history=None) -> MetricResult:
    """Judge one metric row (``name`` ending in ``.spread`` judges the spread of the samples)."""
    mp = policy.metric(name)
    spread = name.endswith(".spread")
    if mp.kind == "proportion" and not spread:
        cb, cc = _counts(baseline, mp), _counts(canary, mp)
        if cb is not None and cc is not None:
            return _judge_counts(name, mp, policy, cb[0], cb[1], cc[0], cc[1], cb[2] + cc[2])
    b, db = _clean(baseline, mp.non_negative)
    c, dc = _clean(canary, mp.non_negative)
    row = _row(name, mp, len(b), len(c), db + dc, float(np.median(b)) if len(b) else math.nan,
               float(np.median(c)) if len(c) else math.nan)
    if len(b) < policy.min_samples or len(c) < policy.min_samples:
        row.reason = f"too few samples (need {policy.min_samples} per side)"
        return row
    zero_inflated = float(np.mean(np.concatenate([b, c]) == 0)) >= policy.zero_share
    if spread:
        if zero_inflated:   # the share of zeros is the level row's business: spread of the non-zeros
            b, c = b[b != 0], c[c != 0]
            if len(b) < policy.min_samples or len(c) < policy.min_samples:
                row.classification, row.reason = "Pass", "zero-inflated: too few non-zero samples to judge the spread"
                row.test = "none"
                return row
        b, c = _abs_dev(b), _abs_dev(c)
        row.baseline_median, row.canary_median = float(np.median(b)), float(np.median(c))
        zero_inflated = False
    how = "mean" if (zero_inflated or spread) else mp.centre
    row.baseline_centre, row.canary_centre = _centre(b, how), _centre(c, how)
    floor = max(mp.abs_floor, LEVEL_FLOOR * _centre(np.abs(b), "mean"))
    row.effect = _effect(row.baseline_centre, row.canary_centre, floor)
    row.p_value, row.cliffs_delta = _mwu(b, c)
    cliff_floor = policy.min_cliffs_delta
    row.test = "mann-whitney"
    if zero_inflated:
        (row.p_value, row.cliffs_delta), row.test, cliff_floor = _two_part(b, c), "two-part", 0.0
    if mp.kind == "proportion":
        row.test += " (rates without call counts)"
    need = policy.min_spread_effect if spread else (mp.min_effect if mp.min_effect is not None else policy.min_effect)
    if history is not None:
        need = max(need, policy.drift_margin * drift_allowance(history, len(c), how, floor, mp.non_negative, spread))
    return _classify(row, mp, policy, need, cliff_floor)
