"""Paired release judging: the two sides' samples aligned slot by slot (``judge(..., paired=True)``).

In a concurrent canary split, baseline and canary requests are sent in the same time slots (in the
release flow's before/after check: the same probe request, by index), so sample ``i`` of the
baseline and sample ``i`` of the canary share their slot's load, time of day and input. Comparing
them pair by pair cancels what the slot does to both and leaves the change, so the same samples
carry more power than the unpaired Mann-Whitney U. With a seeded coin deciding which slot of a
pair goes to which side (``models.judge_eval``), the sign of each difference is a fair coin under
no change, so the signed-rank test is a randomization test there, whatever the autocorrelation.

Per metric with equal-length samples on both sides (NaN in a slot = a lost request: that pair is
dropped; so are pairs with a negative value of a ``non_negative`` metric):

* **level**: Wilcoxon signed-rank on ``canary_i - baseline_i`` (:func:`~wasmops.ai.judge_stats.
  _signed_rank_z`, zeros dropped, tie-corrected), ``cliffs_delta`` = the matched-pairs
  rank-biserial correlation, with the unpaired floors (effect ``min_effect`` on the mean ratio,
  |r| >= ``min_cliffs_delta``).
* **zero-inflated** (at least ``zero_share`` of the baseline's valid values are 0; zeros that only
  the canary has are a change to judge, not a property of the metric): the level row is the
  two-part test on the valid pairs' values (the signed-rank on the differences sees little there:
  on the NAB windows with >= 20 % zeros, 969 no-change windows and level x1.5, it caught 18 %, the
  unpaired two-part test 44 %, with 0 % of no-change windows at p < 0.001), with its p-value from
  the slot-pair coin (:func:`~wasmops.ai.judge_stats._two_part_paired`, test ``two-part (paired by
  slot)``): the same two parts, each pair's scores flipped by the coin, so bursts and the slots'
  levels that both sides share cancel instead of inflating the variance (sequential judge, NAB dev
  set: level x1.5 caught 616 -> 617 of 660, x2 621 -> 629, no new false rollback in 660 + 5,940
  no-change windows or on the reshaped sets; centres, effect and floors stay the unpaired row's).
  When the baseline's median is 0 the spread row is ``Pass`` (test ``none``): the spread is then the
  level, and the unpaired Brown-Forsythe on the non-zero values, whose bursts cluster in time, put
  1.2 % of those no-change windows at p < 0.001 (12x its nominal rate). With a median above 0 (low
  counts: 20-50 % zeros) the spread row is the paired one below; deferring it to the two-part test
  let spread x1.5 pass on those windows (NAB dev set, sequential judge: spread x1.5 on windows with
  >= 20 % zeros caught 47 % before, 56 % after; no new false rollback in 660 + 5,940 no-change
  windows).
* **spread** (``.spread``): effect = ratio of the mean absolute deviations from each side's own
  median, floor ``min_spread_effect``, and ``cliffs_delta`` the rank-biserial r of the signed-rank
  on ``|c_i - median(c)| - |b_i - median(b)|`` (the paired Brown-Forsythe), as before; the p-value
  from the slot-pair coin (:func:`~wasmops.ai.judge_stats._spread_coin_z`, test ``squared ranks
  (paired by slot)``): both sides centred on their pooled median, squared-rank scores. Each side's
  own median moves with the coin, so the signed-rank's p-value was not exact: it put 3 of 9,900
  reshaped no-change NAB windows past the rollback level (bursts, quantised levels), the coin's
  none (and 7 -> 1 of 19,800 on two more reshaping seeds); squared ranks weigh the large deviations a
  spread regression makes (``bench/ai_real.py`` table 2a, spread x1.5 rolled back 548 -> 552 of 660;
  docs/decisions.md, eighth session).
* **proportion from counts**: Cochran-Mantel-Haenszel over the slots' 2x2 tables
  (:func:`~wasmops.ai.judge_stats._cmh_z`); effect and floors as unpaired.

Unequal lengths (or a side missing) fall back to the unpaired tests, and the row's ``test`` says
so. Too few valid pairs is ``NoData`` (verdict ``hold``); all pairs equal is ``Pass`` (p = 1: no
change), never a verdict without data.
"""

from __future__ import annotations

import math

import numpy as np

from wasmops.ai.judge_stats import (_abs_dev, _array, _centre, _cmh_z, _effect, _p_two_sided, _signed_rank_z,
                          _spread_coin_z, _two_part_paired, drift_allowance)
from wasmops.ai.judge_unpaired import LEVEL_FLOOR, JudgePolicy, MetricPolicy, MetricResult, _classify, _row, judge_metric


def _aligned_counts(x: np.ndarray, mp: MetricPolicy) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(errors, calls, valid) per slot, aligned (nothing dropped), or None for rates without calls."""
    if x.ndim == 2 and x.shape[1] == 2:
        e, n = x[:, 0], x[:, 1]
    elif mp.calls_per_sample is not None:
        e, n = x.ravel() * mp.calls_per_sample, np.full(x.size, float(mp.calls_per_sample))
    else:
        return None
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(e) & np.isfinite(n) & (n > 0) & (e >= 0) & (e <= n)
    return e, n, ok


def _paired_counts(name, mp: MetricPolicy, policy: JudgePolicy, cb, cc) -> MetricResult:
    ok = cb[2] & cc[2]
    eb, nb, ec, nc = cb[0][ok], cb[1][ok], cc[0][ok], cc[1][ok]
    with np.errstate(all="ignore"):
        sb, sc, kb, kc = float(nb.sum()), float(nc.sum()), float(eb.sum()), float(ec.sum())
        rb_w, rc_w = eb / nb, ec / nc
    count = lambda v: int(round(v)) if math.isfinite(v) else -1  # noqa: E731
    row = _row(name, mp, count(sb), count(sc), 2 * int((~ok).sum()),
               float(np.median(rb_w)) if len(rb_w) else math.nan, float(np.median(rc_w)) if len(rc_w) else math.nan)
    if sb < policy.min_calls or sc < policy.min_calls:
        row.reason = f"too few calls in valid slot pairs (need {policy.min_calls} per side)"
        return row
    if not all(math.isfinite(v) for v in (sb + sc, kb + kc, 2.0 * (sb + sc))):
        row.reason = "counts too large to add up"
        return row
    row.test = "cmh (paired by slot)"
    row.baseline_centre, row.canary_centre = kb / sb, kc / sc
    row.effect = _effect(row.baseline_centre, row.canary_centre, mp.abs_floor)
    row.cliffs_delta = row.canary_centre - row.baseline_centre
    p = _p_two_sided(_cmh_z(eb, nb, ec, nc))
    row.p_value = p if math.isfinite(p) else 1.0
    need = mp.min_effect if mp.min_effect is not None else policy.min_effect
    return _classify(row, mp, policy, need, 0.0)


def _valid_pairs(b: np.ndarray, c: np.ndarray, non_negative: bool) -> tuple[np.ndarray, np.ndarray, int]:
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(b) & np.isfinite(c)
        if non_negative:
            ok &= (b >= 0) & (c >= 0)
    return b[ok], c[ok], 2 * int((~ok).sum())


def judge_metric_paired(name: str, baseline, canary, policy: JudgePolicy, history=None) -> MetricResult | None:
    """One metric row from slot-aligned samples; None when the samples cannot be paired (unequal
    lengths, a side missing, 2-column counts on one side only): the caller judges them unpaired."""
    mp = policy.metric(name)
    spread = name.endswith(".spread")
    xb, xc = _array(baseline), _array(canary)
    if xb.shape != xc.shape or xb.size == 0 or xb.ndim > 2:
        return None
    if mp.kind == "proportion" and not spread:
        cb, cc = _aligned_counts(xb, mp), _aligned_counts(xc, mp)
        if cb is not None and cc is not None:
            return _paired_counts(name, mp, policy, cb, cc)
    b, c, dropped = _valid_pairs(xb.ravel(), xc.ravel(), mp.non_negative)
    row = _row(name, mp, len(b), len(c), dropped, float(np.median(b)) if len(b) else math.nan,
               float(np.median(c)) if len(c) else math.nan)
    if len(b) < policy.min_samples:
        row.reason = f"too few valid slot pairs (need {policy.min_samples}, have {len(b)})"
        return row
    if float(np.mean(b == 0)) >= policy.zero_share and not (spread and np.median(b) > 0):   # sparse
        if spread:
            row.classification, row.test = "Pass", "none"
            row.reason = "zero-inflated: judged by the level row's two-part test (zeros and non-zeros)"
            return row
        row = judge_metric(name, b, c, policy, history)   # centres, effect and floors of the two-part row
        if row.test == "two-part":      # its p-value from the slot-pair coin instead of independent samples
            row.p_value, row.cliffs_delta = _two_part_paired(b, c)
            row.test = "two-part (paired by slot)"
            row = _classify(row, mp, policy, row.threshold, 0.0)
        else:
            row.test += " (zero-inflated: unpaired)"
        row.dropped += dropped
        return row
    raw = (b, c)
    if spread:
        b, c = _abs_dev(b), _abs_dev(c)
        row.baseline_median, row.canary_median = float(np.median(b)), float(np.median(c))
    how = "mean" if spread else mp.centre
    row.baseline_centre, row.canary_centre = _centre(b, how), _centre(c, how)
    floor = max(mp.abs_floor, LEVEL_FLOOR * _centre(np.abs(b), "mean"))
    row.effect = _effect(row.baseline_centre, row.canary_centre, floor)
    z, row.cliffs_delta, nonzero = _signed_rank_z(c - b)
    row.p_value = _p_two_sided(_spread_coin_z(*raw) if spread else z)
    row.test = ("squared ranks (paired by slot)" if spread else "signed-rank (paired)") + (
        " (rates without call counts)" if mp.kind == "proportion" else "")
    need = policy.min_spread_effect if spread else (mp.min_effect if mp.min_effect is not None else policy.min_effect)
    if history is not None:
        need = max(need, policy.drift_margin * drift_allowance(history, len(c), how, floor, mp.non_negative, spread))
    row = _classify(row, mp, policy, need, policy.min_cliffs_delta)
    if nonzero == 0:
        row.reason = "every slot pair equal: no change"
    return row


def judge_metric_auto(name: str, baseline, canary, policy: JudgePolicy, history=None) -> MetricResult:
    """Paired when the samples pair up, else the unpaired row, whose ``test`` then says why."""
    row = judge_metric_paired(name, baseline, canary, policy, history)
    if row is not None:
        return row
    row = judge_metric(name, baseline, canary, policy, history)
    nb, nc = len(_array(baseline)), len(_array(canary))
    if row.test:
        row.test += f" (unpaired: {nb} vs {nc} samples)"
    return row
