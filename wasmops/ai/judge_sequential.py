"""Sequential release judging: more samples while the evidence is neither a regression nor a clean pass.

One look at a fixed number of samples either rolls back or passes, and a noisy metric passes a
regression it had too few samples to see (``bench/ai_real.py`` table 2, 144 slot pairs of real NAB
series: spread x1.5 caught 57 %, error rate x1.5 69 %). Here the judge looks again on twice the
samples, up to ``JudgePolicy.max_looks`` looks, whenever the last look was inconclusive::

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> stream = rng.lognormal(3, 0.6, 4000)                 # one metric, pairs of slots
    >>> def taker(k):                                         # the canary is k times the baseline
    ...     def take(start, n):                               # n more slot pairs from slot start
    ...         s = stream[2 * start: 2 * (start + n)]
    ...         return {"m": s[0::2]}, {"m": s[1::2] * k}
    ...     return take
    >>> pol = JudgePolicy(metrics={"m": MetricPolicy()})
    >>> [(v.verdict, v.looks, v.metrics[0].n_baseline)
    ...  for v in (judge_until_conclusive(taker(k), pol, first=20) for k in (1.0, 1.3, 2.0))]
    [('pass', 1, 20), ('fail', 4, 160), ('fail', 2, 40)]

A look is **conclusive** when

* it fails (a critical regression at ``sequential_alpha / max_looks``: Bonferroni over the planned
  looks, so the chance of a false rollback over every look stays within ``sequential_alpha`` per
  metric row; a last look taken early, because no more samples could be had, also spends what the
  looks never taken would have: :func:`look_alpha`), or
* every critical continuous row has **ruled out** a regression of ``rule_out`` (x1.5 by default, or
  the row's effect floor if larger): the canary is significantly below ``(1 + rule_out)`` times the
  baseline, one-sided at ``rule_out_alpha / max_looks`` (paired: signed-rank on ``c_i - k b_i``, on
  the absolute deviations from each side's median for a ``.spread`` row; unpaired or zero-inflated:
  Mann-Whitney U of ``c`` against ``k b``), **and** no row is *suggestive* (not significant, but
  ``p < extend_p`` with an effect over its floor in the bad direction).

Otherwise the verdict is ``hold`` with ``more=True`` (the caller takes as many samples again), and
after the last look ``hold`` for a person: "inconclusive after N looks". A row whose mean moved past
its floor significantly while the ranks did not follow (Cliff's delta under its floor: some requests
much slower, most unchanged) is *ambiguous*: more samples cannot change what it is, so it is
``hold`` for a person at once. Proportion rows (error
rates) are never asked to rule out: a relative margin on a rate near 0 needs thousands of calls
(0 errors in 60 probe requests cannot exclude anything), so they extend only when suggestive.
Non-critical rows cannot fail a release alone, so they neither extend nor hold a release (a noisy
latency row on a loaded machine held a no-change release). Rows whose samples are identical on
both sides need no rule-out (the fuel of unchanged code; no error on either side: a scale of
nothing cannot be ruled out, and nothing differs). A pass therefore means
"no regression, and none of the size that matters could have hidden", never "too few samples".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from wasmops.ai.judge_stats import _abs_dev, _array, _clean, _mwu_z, _signed_rank_z
from wasmops.ai.judge_unpaired import JudgePolicy, MetricPolicy, MetricResult  # noqa: F401  (doctest names)
from wasmops.ai.release_judge import ReleaseVerdict, judge

Samples = Mapping[str, object]
#: Recorded with every sequential verdict (decision records), beside ``release_judge.JUDGE_VERSION``
#: of the one-look judge it runs at each look.
SEQUENTIAL_VERSION = "5-sequential"   # 4: a short last look spends the looks never taken (look_alpha);
#                                       5: its looks run JUDGE_VERSION 5 (the paired spread row's coin test)


def _z_one_sided(p: float) -> float:
    """The standard normal quantile z with P(Z > z) = p."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(1.0 - p)


def _below_z(x: np.ndarray, y: np.ndarray, paired: bool) -> float:
    """z > 0 when ``x`` is stochastically below ``y`` (pair by pair when ``paired``)."""
    if paired:
        return -_signed_rank_z(x - y)[0]
    return -_mwu_z(y, x)[0]


def rule_out_z(row: MetricResult, baseline, canary, mp: MetricPolicy, policy: JudgePolicy) -> float:
    """How strongly the samples exclude a regression of ``max(rule_out, floor)`` in the row's bad
    direction, as a one-sided z (large: excluded); -inf when the samples cannot say. As the row's
    effect does, a baseline centre under the metric's ``abs_floor`` counts as the floor: the
    regression ruled out is ``(k - 1) x abs_floor`` added (a module of 100 fuel a call doubling to
    200 is not a regression of the size that matters under a 1,000-fuel floor)."""
    if row.test == "none":                     # a sparse metric's spread: the level row answers for it
        return math.inf
    k = 1.0 + max(policy.rule_out, row.threshold if math.isfinite(row.threshold) else 0.0)
    b, c = _array(baseline), _array(canary)
    paired = b.shape == c.shape
    with np.errstate(invalid="ignore"):
        ok = (np.isfinite(b) & np.isfinite(c) & (b >= 0) & (c >= 0)) if paired else None
    b, c = (b[ok], c[ok]) if paired else (_clean(b, True)[0], _clean(c, True)[0])
    if min(len(b), len(c)) < policy.min_samples:
        return -math.inf
    if (np.array_equal(b, c) if paired else (b.min() == b.max() == c.min() == c.max())):
        return math.inf                        # identical samples (fuel of the same code, no errors on either side)
    spread = row.metric.endswith(".spread")
    if float(np.mean(b == 0)) >= policy.zero_share and not (spread and np.median(b) > 0):   # sparse, as
        paired = False                                                                     # judge_metric_paired
    if spread:
        b, c = _abs_dev(b), _abs_dev(c)
    # A centre under the metric's floor (the effect divides by the floor then): the regression that
    # matters is (k - 1) x floor added, not a multiple of a tiny baseline.
    tiny = not spread and 0 < abs(row.baseline_centre) < mp.abs_floor     # (NaN: False; 0: nothing to scale)

    def up(x):
        return x + (k - 1.0) * mp.abs_floor if tiny else k * x
    ups = {"increase": [(c, up(b))], "decrease": [(b, up(c))]}.get(mp.direction, [(c, up(b)), (b, up(c))])
    return min(_below_z(x, y, paired) for x, y in ups)


def _bad_shift(row: MetricResult, mp: MetricPolicy) -> bool:
    """The centre moved by at least the row's floor, in the metric's bad direction."""
    if not (math.isfinite(row.effect) and abs(row.effect) >= row.threshold):
        return False
    return mp.direction == "either" or (mp.direction == "increase") == (row.effect > 0)


def look_alpha(policy: JudgePolicy, look: int = 1, last: bool = False) -> float:
    """The level of look ``look``: ``sequential_alpha / max_looks`` (Bonferroni over the planned looks),
    and at a ``last`` look taken before ``max_looks`` (no more samples could be had: the series or the
    sampling time ended) what the looks never taken would have spent as well,
    ``sequential_alpha x (max_looks - look + 1) / max_looks``. The levels of the looks actually taken
    still add up to ``sequential_alpha`` at most, so the false-rollback bound holds whenever the reason
    for stopping is not the metric's own values (a time budget, an end of data). Judging the same
    samples again as the last look (``judge_until_conclusive`` when ``take`` returns nothing) tests
    them at the larger level only: the event at the smaller one is part of it."""
    spare = max(1, policy.max_looks - look + 1) if last and policy.spend_unused_alpha else 1
    return policy.sequential_alpha * spare / policy.max_looks


def suggestive(row: MetricResult, mp: MetricPolicy, policy: JudgePolicy, alpha: float | None = None) -> bool:
    """Not significant at this look's level (``alpha``; default the first look's), but ``p < extend_p``
    with an effect over its floor in the bad direction (the ranks agreeing): more samples may settle it."""
    if row.classification == "NoData" or row.reason == "regression" or not row.p_value < policy.extend_p:
        return False
    if row.p_value < (alpha or look_alpha(policy)):
        return False
    if mp.kind == "continuous" and row.effect * row.cliffs_delta <= 0:
        return False
    return _bad_shift(row, mp)


def ambiguous(row: MetricResult, mp: MetricPolicy, policy: JudgePolicy, alpha: float | None = None) -> bool:
    """Significant, the mean moved past its floor the bad way, but the ranks did not follow (Cliff's
    delta under its floor, or of the other sign): a few requests moved, most did not. More samples
    do not change what that is, so a person decides."""
    if row.classification == "NoData" or row.reason == "regression" or mp.kind != "continuous":
        return False
    return row.p_value < (alpha or look_alpha(policy)) and _bad_shift(row, mp)


def open_rows(v: ReleaseVerdict, baseline: Samples, canary: Samples, policy: JudgePolicy,
              alpha: float | None = None) -> tuple[list[str], bool]:
    """What keeps a look judged at level ``alpha`` from being conclusive, one phrase per row (empty:
    conclusive), and whether more samples could settle it (False when a row is :func:`ambiguous`)."""
    zr = _z_one_sided(policy.rule_out_alpha / policy.max_looks)
    out, settle = [], True
    for row in v.metrics:
        mp, name = policy.metric(row.metric), row.metric.removesuffix(".spread")
        if not mp.critical:       # it cannot fail a release alone (latency on a shared host): it cannot hold one
            continue
        if ambiguous(row, mp, policy, alpha):
            settle = False
            ranks = (f"the ranks moved the other way (Cliff's delta {row.cliffs_delta:+.2f})"
                     if row.effect * row.cliffs_delta <= 0 else
                     f"Cliff's delta {row.cliffs_delta:+.2f} is under its {policy.min_cliffs_delta:.2f} floor")
            out.append(f"{row.metric} mean {row.effect:+.0%} (p={row.p_value:.2g}) but {ranks}: "
                       "some requests moved a lot, most did not")
        elif suggestive(row, mp, policy, alpha):
            out.append(f"{row.metric} {row.effect:+.0%} (p={row.p_value:.2g}, not yet significant)")
        elif mp.kind == "continuous" and row.classification != "NoData":
            z = rule_out_z(row, baseline.get(name), canary.get(name), mp, policy)
            if not z > zr:
                m = max(policy.rule_out, row.threshold if math.isfinite(row.threshold) else 0.0)
                out.append(f"{row.metric}: a {m:+.0%} regression is not ruled out (z={z:.2f}, need {zr:.2f})")
    return out, settle


def judge_look(baseline: Samples, canary: Samples, policy: JudgePolicy | None = None, look: int = 1,
               last: bool = False, paired: bool = True) -> ReleaseVerdict:
    """Look ``look`` of at most ``policy.max_looks``: the verdict at :func:`look_alpha` (``sequential_alpha
    / max_looks``, and the unspent rest at a ``last`` look before ``max_looks``); an inconclusive look
    is ``hold`` with ``more=True``, or after the last look (``last``, or ``look == max_looks``) ``hold``
    for a person."""
    policy = policy or JudgePolicy()
    alpha = look_alpha(policy, look, last)
    strict = policy.model_copy(update={"alpha": alpha})
    v = judge(baseline, canary, strict, paired=paired)
    v.looks, v.judge_version = look, SEQUENTIAL_VERSION
    if v.verdict == "fail" or not any(r.classification != "NoData" for r in v.metrics):
        return v
    why, settle = open_rows(v, baseline, canary, policy, alpha)
    if not why:
        return v
    final = last or look >= policy.max_looks or not settle
    v.verdict, v.more = "hold", not final
    v.explanation = (f"inconclusive after {look} look{'s' * (look > 1)}: " if final
                     else f"look {look} of {policy.max_looks} inconclusive, taking more samples: ") + "; ".join(why)
    return v


def _concat(a, b):
    if a is None:
        return b
    return np.concatenate([_array(a), _array(b)])


def judge_until_conclusive(take: Callable[[int, int], tuple[Samples, Samples]], policy: JudgePolicy | None = None,
                           first: int = 60, paired: bool = True) -> ReleaseVerdict:
    """Judge, taking more samples while a look is inconclusive. ``take(start, n)`` returns the next
    ``n`` samples per metric of both sides from slot ``start`` (fewer, or none, when no more can be
    had: that look is the last). Look ``j`` judges ``first * 2**(j-1)`` slots."""
    policy = policy or JudgePolicy()
    base, can = take(0, first)
    have, look = _slots(can), 1
    while True:
        v = judge_look(base, can, policy, look, last=have < first * 2 ** (look - 1), paired=paired)
        if not v.more:
            return v
        more_b, more_c = take(have, have)
        if _slots(more_c) == 0:
            return judge_look(base, can, policy, look, last=True, paired=paired)
        base = {k: _concat(base.get(k), more_b.get(k)) for k in set(base) | set(more_b)}
        can = {k: _concat(can.get(k), more_c.get(k)) for k in set(can) | set(more_c)}
        have, look = _slots(can), look + 1


def _slots(samples: Samples) -> int:
    return max((len(_array(v)) for v in samples.values()), default=0)
