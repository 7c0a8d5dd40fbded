"""The AI layer measured on real labelled data (NAB, MIT licence): three tables.

    OMP_NUM_THREADS=1 .venv/bin/python bench/ai_real.py [NAB_DIR]     # default ../shared/data/nab
    OMP_NUM_THREADS=1 .venv/bin/python bench/ai_real.py --judge [NAB_DIR]   # table 2 only (~3 min)
    OMP_NUM_THREADS=1 .venv/bin/python bench/ai_real.py --detector [NAB_DIR]   # tables 1 and 1b only
    OMP_NUM_THREADS=1 .venv/bin/python bench/ai_real.py --forecast [NAB_DIR]   # table 3 only

1. Continuous detector (``models.detector``, production defaults) against two baselines computed
   here (windowed Gaussian: trailing 6,400-row mean/std; rolling robust z: trailing 24 h
   median/MAD), NAB protocol: the first 15 % of each series trains, the rest is streamed and
   scored. All three raise alarms under the same policy: threshold calibrated on the training rows
   at ``target_far``, one alarm per incident (a row above it with no row above it in the 6 h
   before; the project's detector also has its Bonferroni floor). Metrics from ``models.nab_eval``: NAB standard score, pooled PR-AUC, windows caught at a
   per-series matched 2 % false-alarm rate. Data: every series under ``data/``.
1b. The same three, on the series reshaped like data this project never saw (``models.nab_perturb``:
   30 % of rows lost, jittered timestamps, 30-minute means, the first 2,500 rows, four outages),
   3 seeds each: do the figures hold off the development set's exact shape?
2. Release judge (``wasmops.ai.release_judge``, default policy) on the real series of
   realAWSCloudwatch, realAdExchange and realTweets (and realKnownCause/realTraffic when present),
   two designs (``models.judge_eval``):
   a. **concurrent** (how the judge is used, Kayenta-style): at 20 evenly spaced positions per
      series, a window of 288 samples at the series' native resolution (24 h at 5 min, 12 days at
      1 h) is split like a 50/50 traffic split: within each consecutive pair of slots a seeded coin
      sends one slot to the old digest (baseline) and one to the new (canary), 144 samples a side.
      Both sides see the same drift; labelled anomalies are not skipped (they hit both sides).
      The real value plays ``latency_p95_ms`` (level row and Brown-Forsythe spread row); the error
      rate is simulated from counts (100 calls a slot, 1,000 in a second run; error probability
      0.5 %-1.5 % rising with the rank of the real value in its window, i.e. following load).
      Measures: false rollbacks on the real data as is, and the share of regressions injected
      into the canary side only (level x k, spread median + k (x - median), error probability x k)
      that get verdict ``fail``. It does not measure before/after drift, nor real regressions.
      Each cell is UNPAIRED / PAIRED: the same windows judged as two independent samples
      (Mann-Whitney U, pooled counts) and paired by slot (``judge(..., paired=True)``: signed-rank
      on the per-pair differences, CMH for the counts; ``wasmops.ai.judge_paired``). More no-change
      pairs (60 positions a series, two other seeds: 3,960 overlapping windows) check the false
      rollbacks beyond the 660; x1.5 is also split into dense and sparse (>= 20 % zeros) windows.
      The sequential table (2a, what the release flow runs) keeps those 660 windows and its figures
      over all of them; beside them (eighth session), on the same verdicts, the x1.5 catch rate
      split by what is known before any verdict: windows whose series held all 5 looks from their
      start (a host would; 143 of 660, mostly realTweets: the AWS series hold 4,032 slots, 4 looks,
      AdExchange ~1,600, 3) and windows the series' end cut short, whatever their verdict; spread
      on windows whose clipped injection reached x1.45 over the first look; spread injected without
      the clip's loss (``models.judge_eval.spread_above_floor``: what the floor at 0 cuts below the
      median is added above it); and the windows placed to fit (``sequential_pairs(fit=True)``:
      starts over ``[0, n - the longest horizon the series holds]``; series just past a horizon,
      e.g. 4,730 slots for 4,608, then give 20 near-copies of one window, so it is printed, not the
      headline). No miss is dropped from the headline rows.
   b. **before/after** (the original table, kept for comparison): 12 block means of the 2 h (or
      12 samples) before vs after a release time, 3 days of history for the drift allowance,
      windows touching labelled anomalies skipped. Adjacent windows of real series drift with
      no change, so this design cannot separate x1.5 from drift (its false rollbacks and misses).
3. Forecaster champion (``models.forecast_select``) on realTweets (and realKnownCause/realTraffic
   series of 6 weeks or more, when present) summed per hour: rolling origins over the last 30 %,
   24 h and 168 h ahead; MAE ratio against seasonal-naive-168 h per series. This is the backtest
   CLI's per-series forecaster; the production cost model (pooled over a workspace's modules, each
   served by its champion) is measured on the same series by ``bench/cost_real.py``.

Detector choices measured on this set before settling (NAB score at a 6 h cooldown): value rarity
alone 50-54, seasonal residual alone 47-55, 1 h mean alone 41-51, their max with the 6 h mean 53-59
over thresholds 2.75-3.25; a decaying score memory raised PR-AUC but lowered windows caught.
An IsolationForest on context features was not tried. The threshold's cap for coarse sampling
(hourly rows: the Bonferroni bound is out of reach of a 30-day window's empirical p-values) moved
realAdExchange from 33.1 to 58.4 and the whole set from 56.1 to 60.8; one alarm per incident (re-armed
after 6 h with no row above the threshold, not every 6 h) moved it to 61.8 (docs/decisions.md).
The training scores' quantile lifts the threshold only from 1,000 training rows at 0.5 % (5 expected
rows above it; from fewer it is the level of the training part's one incident): 61.8 -> 64.0 (TP 62 ->
65, FP 228 -> 251); table 1b drop30 55.2 -> 59.4, jitter 61.3 -> 63.4, mean30min 50.4 -> 53.6 (robust z
51.8), first2500 45.3 -> 44.8, gaps 58.3 -> 60.3; PR-AUC unchanged (0.199). An exponential tail beyond
the history's range (the score grows linearly, not logarithmically, past the largest value) gained
more (dev 65.2-66.6, mean30min 62.6-63.1) but put generated noise over its false-alarm target
(30-minute Gaussian noise: 0.02 % -> 0.57 % of rows above the threshold): not adopted. The seasonal
baseline's time-of-day median spans 3 sampling steps where 1 hour holds fewer (30-minute rows: 2,
hourly: 1): 64.0 -> 64.2; drop30 59.2, jitter 64.6, mean30min 57.2, first2500 45.2, gaps 60.3; PR-AUC
0.199 (mean30min 0.186 -> 0.190). Steps of 2, 4 and 6 rows gave mean30min 53.7, 54.7, 57.5
(docs/decisions.md, eighth session).
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from models.forecast_select import SELECT_HOURS, backtest, mae_ratios  # noqa: E402
from models.nab_eval import evaluate, load_corpus, run_corpus  # noqa: E402
from models.nab_perturb import KINDS, perturbed_corpus  # noqa: E402
from models.judge_eval import (by_category, by_density, caught_where, detection_rows, evaluate_before_after,  # noqa: E402
                               evaluate_concurrent, evaluate_sequential, false_rollbacks, held_ran_out, looks_summary,
                               no_change_summary, outcome_rows, side_by_side)
from wasmops.ai.judge_sequential import SEQUENTIAL_VERSION  # noqa: E402
from wasmops.cli._backtest_input import hourly_series  # noqa: E402
from wasmops.ai.release_judge import JUDGE_VERSION  # noqa: E402
DEFAULT_NAB = Path(__file__).resolve().parents[2] / "shared" / "data" / "nab"


def perturbed_table(corpus, seeds=(7, 8, 9)) -> list[dict]:
    """Table 1b: the same series reshaped like data never seen (``models.nab_perturb``), NAB standard
    score per detector as the mean over ``seeds`` (min-max), and the project's PR-AUC over the robust z's."""
    rows = []
    for kind in KINDS:
        nab, ratio = {}, []
        for seed in seeds:
            pc = perturbed_corpus(corpus, kind, seed)
            ms = {name: evaluate(pc, r["scores"], r["alarms"]) for name, r in run_corpus(pc).items()}
            for name, m in ms.items():
                nab.setdefault(name, []).append(m["nab"])
            ratio.append(ms["project"]["pr_auc"] / ms["rolling_robust_z"]["pr_auc"])
        rows.append({"reshaped": kind, "windows": sum(len(s.windows) for s in pc),
                     **{name: f"{np.mean(v):.1f} ({min(v):.1f}-{max(v):.1f})" for name, v in nab.items()},
                     "PR-AUC project / robust z": f"{np.mean(ratio):.2f}"})
    return rows


def detector_table(corpus) -> list[dict]:
    runs = run_corpus(corpus)
    rows = []
    for name, r in runs.items():
        m = evaluate(corpus, r["scores"], r["alarms"])
        rows.append({"detector": name, "NAB standard": f"{m['nab']:.1f}", "TP": m["tp"], "FN": m["fn"],
                     "FP": m["fp"], "pooled PR-AUC": f"{m['pr_auc']:.3f}",
                     "windows caught @2% FAR": f"{m['caught']}/{m['caught_of']}"})
    return rows


# ----------------------------------------------------------------------------------------------
# Release judge (design and data: models/judge_eval.py)

def reshaped_judge(corpus) -> list[dict]:
    rows = []
    for kind in KINDS:
        pc = perturbed_corpus(corpus, kind)
        sq = evaluate_sequential(pc, sizes=(1.5,))
        more = evaluate_sequential(pc, per_series=60, kinds=(), seed=3)
        rows.append({"reshaped": kind, **{r["regression"] + " x1.5": r["x1.5"] for r in outcome_rows(sq)},
                     "false rollbacks": f"{false_rollbacks(sq)} + {false_rollbacks(more)}",
                     "no change held": f"{no_change_summary(sq)['hold']} + {no_change_summary(more)['hold']}"})
    return rows


def judge_tables(corpus) -> None:
    t0 = time.perf_counter()
    sq = evaluate_sequential(corpus)
    print_table("2a. release judge " + SEQUENTIAL_VERSION + " (what the release flow and canary steps run), "
                "CONCURRENT canary: real series (AWS CloudWatch, AdExchange, Tweets) at native resolution, windows "
                "split 50/50 by slot pairs; the first look on 288 slots (144 a side), then twice as many while "
                "inconclusive, up to 5 looks (16x, to the series' end); regressions injected into the canary side. "
                "Cells: ROLLED BACK (fail) / HELD for a person (inconclusive at the last look); the rest passed. "
                "Error rate simulated, following the real series, 100 calls a slot:", outcome_rows(sq))
    nc = no_change_summary(sq)
    print(f"   no-change pairs ({nc['series']} series): {nc['fail']} rolled back, {nc['hold']} held, {nc['pass']} "
          f"passed of {nc['no-change pairs']}; looks: {looks_summary(sq)}")
    more = [evaluate_sequential(corpus, per_series=60, kinds=(), seed=s) for s in (1, 2, 3)]
    print("   more no-change pairs (60 window positions a series, seeds 1-3): false rollbacks "
          + " + ".join(false_rollbacks(m) for m in more) + "; held "
          + " + ".join(str(no_change_summary(m)["hold"]) for m in more))
    print_table("   per category, x1.5 rolled back and false rollbacks:", by_category(sq))
    print("   x1.5 rolled back on dense / sparse windows (sparse: >= 20 % zeros): "
          + "; ".join(f"{k} {a}" for k, a in by_density(sq).items()))
    print(f"   x1.5 held: {held_ran_out(sq)} (no data left for the next look; a host would take more); no change: "
          f"{sum(v[2] == 'hold' and v[6] for v in sq['none'])} of {nc['hold']} held at the series' end")
    sp = [v for v in sq[("spread", 1.5)] if v[2] == "pass"]
    print(f"   spread x1.5 passed: {len(sp)}, of which {sum(v[5] < 1.45 for v in sp)} came out under x1.45 "
          "(the injection's clip at 0 on series near 0)")
    print("   x1.5 rolled back on the SAME windows, split by what was known before any verdict: windows whose "
          "series held all 5 looks from their start: " + caught_where(sq, lambda v: v[7]) + "; windows the series' "
          "end cut short (whatever their verdict): " + caught_where(sq, lambda v: not v[7]) + "; spread on windows "
          "whose injection reached x1.45 over the first look's slots: "
          + caught_where({k: v for k, v in sq.items() if k == ("spread", 1.5)}, lambda v: v[8] >= 1.45))
    up = evaluate_sequential(corpus, sizes=(1.5,), kinds=("spread",), floor="above")
    print("   spread x1.5 injected WITHOUT the clip's loss (what the floor at 0 cuts below the median added "
          "above it: models.judge_eval.spread_above_floor): all windows " + caught_where(up, lambda v: True)
          + "; windows that held all 5 looks: " + caught_where(up, lambda v: v[7]) + "; the two disk-write "
          "series left out: " + caught_where(up, lambda v: "disk_write" not in v[1]))
    fit = evaluate_sequential(corpus, sizes=(1.5,), fit=True)
    print("   placed to FIT (window starts spread over [0, n - the longest horizon the series holds], "
          "models.judge_eval.sequential_pairs(fit=True); a series just past a horizon gets near-copies of "
          "one window): x1.5 " + caught_where(fit, lambda v: True) + f"; no change: {false_rollbacks(fit)} "
          f"rolled back; held at the series' end: {held_ran_out(fit)}")
    print_table("   the same, on the series reshaped like data never seen (models/nab_perturb.py, seed 7): x1.5 "
                "rolled back / held, false rollbacks and held in 660 no-change windows + 1,980 more (seed 3):",
                reshaped_judge(corpus))
    print(f"   [{time.perf_counter() - t0:.0f} s]")
    un = evaluate_concurrent(corpus, window=288, per_series=20, calls_per_slot=100)
    pa = evaluate_concurrent(corpus, window=288, per_series=20, calls_per_slot=100, paired=True)
    print_table("2a'. for comparison, ONE LOOK at 144 a side (the judge before sequential looks): rolled back, "
                "UNPAIRED (Mann-Whitney U, pooled counts) / PAIRED by slot (signed-rank, the spread by the slot-pair coin, CMH; judge " + JUDGE_VERSION
                + "); a look that could not rule anything out passed:", side_by_side(un, pa))
    print(f"   false rollbacks: unpaired {false_rollbacks(un)}, paired {false_rollbacks(pa)}")
    ba = evaluate_before_after(corpus)
    print_table("2b. release judge, BEFORE/AFTER (the original design, kept for comparison; unpaired): 2 h (or 12 "
                "samples) before vs after a release time, 12 block means a side, 3 days of history for the drift "
                "allowance; not how a canary is judged (adjacent windows drift):", detection_rows(ba))
    print("   no-change pairs: " + ", ".join(f"{k} {v}" for k, v in no_change_summary(ba).items()))


# ----------------------------------------------------------------------------------------------
# Forecaster

#: Series of these categories (when present) with at least this many hours are backtested: realTweets
#: is the development set's seasonal one; realKnownCause and realTraffic are NAB's other real ones.
FORECAST_CATEGORIES = ("realTweets", "realKnownCause", "realTraffic")
FORECAST_MIN_HOURS = 6 * 168


def forecast_table(nab_dir: Path, max_iter: int = 60, select_hours: int = SELECT_HOURS) -> list[dict]:
    """Each series read as ``wasmops models backtest-forecast`` reads it (``hourly_series``): summed per
    hour, partial first and last hours left out, hours with no number forecast from (as 0) but not scored."""
    rows = []
    for f in sorted(f for c in FORECAST_CATEGORIES for f in (nab_dir / "data" / c).glob("*.csv")):
        y, observed = hourly_series(f, [])
        if len(y) < FORECAST_MIN_HOURS:
            continue
        row = {"series": f"{f.parent.name}/{f.stem}"}
        for h in (24, 168):
            bt = backtest(y, horizon=h, max_iter=max_iter, select_hours=select_hours, observed=observed)
            r = mae_ratios(bt)
            row[f"{h}h model"] = f"{r['model']:.2f}"
            row[f"{h}h champion"] = f"{r['champion']:.2f}"
            row[f"{h}h best naive"] = f"{min(r['naive24'], r['mean4w'], 1.0):.2f}"
        rows.append(row)
    return rows


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    if not rows:
        print("  (no rows)")
        return
    cols = list(rows[0])
    width = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  " + "  ".join(c.ljust(width[c]) for c in cols))
    for r in rows:
        print("  " + "  ".join(str(r[c]).ljust(width[c]) for c in cols))


def detector_tables(corpus) -> None:
    print_table("1. continuous detector, NAB protocol (first 15 % trains), all series under data/:",
                detector_table(corpus))
    print_table("1b. the same, on the series reshaped like data this project never saw (models/nab_perturb.py: 30 % "
                "of rows lost, jittered timestamps, 30-minute means, the first 2,500 rows, four outages of 6-48 h); "
                "NAB standard score, mean of 3 seeds (min-max):", perturbed_table(corpus))


def main(nab_dir: Path = DEFAULT_NAB) -> None:
    t0 = time.perf_counter()
    corpus = load_corpus(nab_dir / "data", nab_dir / "labels" / "combined_windows.json")
    n_win = sum(len(s.windows) for s in corpus)
    print(f"data: {nab_dir} ({len(corpus)} series, {sum(len(s.values) for s in corpus):,} rows, "
          f"{n_win} labelled windows after the training part)")
    detector_tables(corpus)
    print(f"   [{time.perf_counter() - t0:.0f} s]")
    judge_tables(corpus)
    print(f"   [{time.perf_counter() - t0:.0f} s]")
    print_table("3. forecaster, hourly sums (realTweets; realKnownCause and realTraffic when present, 6 weeks or "
                "more), rolling origins over the last 30 %: MAE / MAE(seasonal-naive-168 h)", forecast_table(nab_dir))
    print(f"   [{time.perf_counter() - t0:.0f} s total]")


def detector_only(nab_dir: Path = DEFAULT_NAB) -> None:
    """Tables 1 and 1b (the continuous detector) alone: what a change to ``models.detector`` is measured with."""
    t0 = time.perf_counter()
    corpus = load_corpus(nab_dir / "data", nab_dir / "labels" / "combined_windows.json")
    print(f"data: {nab_dir} ({len(corpus)} series)")
    detector_tables(corpus)
    print(f"   [{time.perf_counter() - t0:.0f} s]")


def judge_only(nab_dir: Path = DEFAULT_NAB) -> None:
    """Table 2 (the release judge) alone: what a change to ``wasmops.ai`` judging is measured with."""
    corpus = load_corpus(nab_dir / "data", nab_dir / "labels" / "combined_windows.json")
    print(f"data: {nab_dir} ({len(corpus)} series)")
    judge_tables(corpus)


def forecast_only(nab_dir: Path = DEFAULT_NAB) -> None:
    """Table 3 (the forecaster) alone."""
    print_table("3. forecaster, hourly sums, rolling origins over the last 30 %: MAE / MAE(seasonal-naive-168 h)",
                forecast_table(nab_dir, select_hours=int(os.environ.get("BENCH_SELECT_HOURS", SELECT_HOURS))))


if __name__ == "__main__":
    modes = {"--judge": judge_only, "--detector": detector_only, "--forecast": forecast_only}
    args = [a for a in sys.argv[1:] if a not in modes]
    run = next((modes[a] for a in sys.argv[1:] if a in modes), main)
    run(Path(args[0]) if args else DEFAULT_NAB)
