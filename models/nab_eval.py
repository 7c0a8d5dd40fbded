"""Numenta Anomaly Benchmark (NAB) data and metrics, shared by ``bench/ai_real.py`` and
``wasmops models benchmark``.

Example::

    >>> import numpy as np
    >>> from models.detector import run_series
    >>> from models.nab_eval import load_corpus, evaluate, nab_raw_score
    >>> alarms = np.zeros(100, dtype=bool)
    >>> alarms[40] = True                                   # at the first row of the window: the best score
    >>> nab_raw_score(alarms, [(40, 49)], n_train=15)
    (1.0, {'tp': 1, 'fn': 0, 'fp': 0, 'windows': 1})
    >>> alarms[80] = True                                   # a false positive long after it: the full 0.11
    >>> raw, counts = nab_raw_score(alarms, [(40, 49)], n_train=15)
    >>> round(raw, 4), counts
    (0.89, {'tp': 1, 'fn': 0, 'fp': 1, 'windows': 1})

On the NAB corpus (outside the repository: ``/work/shared/data/nab``, as ``bench/ai_real.py``)::

    >>> corpus = load_corpus("../shared/data/nab/data", "../shared/data/nab/labels/combined_windows.json")  # doctest: +SKIP
    >>> f = corpus[0]; det, out = run_series(f.ts, f.values)      # models.detector    # doctest: +SKIP
    >>> sorted(evaluate([f], {f.name: out.score}, {f.name: out.alarm}))              # doctest: +SKIP
    ['caught', 'caught_of', 'fn', 'fp', 'nab', 'pr_auc', 'raw', 'tp', 'windows']

Data: every ``*.csv`` (``timestamp,value``) under a directory, following symlinks; a series' name
is its path relative to that directory (``realTweets/Twitter_volume_AMZN.csv``), as NAB's label
file names them. Labels for series that are absent are not scored (each is noted). Row labels: a row is inside a
window when ``start <= timestamp <= end``.

Protocol: the first ``TRAIN_FRACTION`` (15 %) of each series' rows trains the detector and is never
scored. NAB itself caps its probationary period at 750 rows (15 % of 5,000); we use a plain 15 % as
the project's protocol asks, so long series train longer here than in NAB.

NAB standard-profile score (:func:`nab_raw_score`), following NAB's ``scorer.py`` semantics:

* ``scaled_sigmoid(y) = 2 / (1 + exp(5 y)) - 1`` (and -1 for y > 3, as NAB does).
* A detection inside a window at row i, window rows [l, r], width w = r - l + 1, has relative
  position y = -(r - i + 1) / w (-1 at the window's first row, about 0 at its last) and scores
  ``A_TP * scaled_sigmoid(y) / scaled_sigmoid(-1)`` (so the earliest detection scores A_TP = 1).
  Only the first (= best) detection in a window counts; later ones in the same window are ignored.
* A window with no detection scores A_FN = -1.
* A detection outside every window is a false positive. After a window ending at row r with width
  w, its position is y = (i - r) / (w - 1) and it scores ``|A_FP| * scaled_sigmoid(y)`` (negative;
  a detection just after a window costs little, one far after costs the full 0.11). A false
  positive with no window before it costs ``A_FP = -0.11``.
* Detections in the training part are ignored (NAB zeroes the probationary period). Windows that
  end inside the training part are dropped (nobody can detect them), as are windows with no row of
  the series inside them (each noted); others are kept whole.
* Normalisation over the corpus: ``100 * (raw - null) / (perfect - null)`` with null = every window
  missed (``A_FN`` per window) and perfect = every window detected at its first row (``A_TP``).

Pooled PR-AUC is the average precision of the detector's continuous score over every scored row of
every series, a row being positive when inside a window. "Windows caught at 2 % false alarms" sets,
per series, the threshold that at most 2 % of its scored rows outside windows reach, and counts
windows with at least one scored row reaching it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

# Reading the data lives in models.nab_io; its names stay importable from here.
from models.nab_io import (TRAIN_FRACTION, Series, find_csvs, load_corpus, read_labels,  # noqa: E402,F401
                           read_series, read_timestamp_value, train_rows)

A_TP, A_FP, A_FN = 1.0, -0.11, -1.0  # NAB standard profile


# ----------------------------------------------------------------------------------------------
# NAB score

def scaled_sigmoid(y: float) -> float:
    """NAB's scaled sigmoid: 2 / (1 + exp(5 y)) - 1, and -1 beyond y = 3."""
    return -1.0 if y > 3.0 else 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def nab_raw_score(alarms, windows, n_train: int = 0) -> tuple[float, dict]:
    """Raw NAB standard-profile score of one series (see the module docstring) and its counts."""
    idx = np.flatnonzero(np.asarray(alarms, dtype=bool))
    idx = idx[idx >= n_train]
    wins = sorted(windows)
    best = [None] * len(wins)
    fp_total, n_fp = 0.0, 0
    max_tp = scaled_sigmoid(-1.0)
    for i in idx:
        k = _window_of(wins, i)
        if k is not None:
            if best[k] is None:  # the first detection in a window is the best one
                lo, hi = wins[k]
                best[k] = A_TP * scaled_sigmoid(-(hi - i + 1) / (hi - lo + 1)) / max_tp
            continue
        n_fp += 1
        prev = [w for w in wins if w[1] < i]
        if not prev:
            fp_total += A_FP
        else:
            lo, hi = prev[-1]
            y = (i - hi) / max(hi - lo, 1)
            fp_total += abs(A_FP) * scaled_sigmoid(y)
    tp = sum(b for b in best if b is not None)
    n_fn = sum(b is None for b in best)
    raw = tp + fp_total + A_FN * n_fn
    return raw, {"tp": len(wins) - n_fn, "fn": n_fn, "fp": n_fp, "windows": len(wins)}


def _window_of(wins, i):
    for k, (lo, hi) in enumerate(wins):
        if lo <= i <= hi:
            return k
    return None


def nab_normalized(raw: float, n_windows: int) -> float:
    """100 * (raw - null) / (perfect - null); null = A_FN per window, perfect = A_TP per window."""
    null, perfect = A_FN * n_windows, A_TP * n_windows
    return 100.0 * (raw - null) / (perfect - null) if perfect > null else float("nan")


# ----------------------------------------------------------------------------------------------
# Pooled metrics

def pooled_pr_auc(corpus, scores: dict) -> float:
    from sklearn.metrics import average_precision_score

    y, s = _pooled(corpus, scores)
    return float(average_precision_score(y, s)) if y.any() else float("nan")


def _pooled(corpus, scores):
    ys, ss = [], []
    for ser in corpus:
        sc = np.asarray(scores[ser.name], dtype=float)[ser.n_train:]
        ys.append(ser.in_window()[ser.n_train:])
        ss.append(np.nan_to_num(sc, nan=0.0, posinf=1e12, neginf=-1e12))
    return np.concatenate(ys), np.concatenate(ss)


def caught_at_far(corpus, scores: dict, far: float = 0.02) -> tuple[int, int]:
    """(windows caught, windows): per series, the threshold is the score that at most ``far`` of
    that series' scored rows outside windows reach (:func:`matched_threshold`); a window is caught
    when one of its scored rows reaches it. Per series, so detectors whose scores are not on one
    scale across series (z-scores with a collapsed MAD) are not penalised for it."""
    caught = total = 0
    for ser in corpus:
        sc = np.nan_to_num(np.asarray(scores[ser.name], dtype=float), nan=0.0)
        lab = ser.in_window()
        scored = np.arange(len(sc)) >= ser.n_train
        thr = matched_threshold(sc[scored & ~lab], far)
        for lo, hi in ser.windows:
            lo = max(lo, ser.n_train)
            total += 1
            caught += bool((sc[lo:hi + 1] >= thr).any())
    return caught, total


def matched_threshold(negatives: np.ndarray, far: float) -> float:
    """The smallest threshold t such that at most ``far`` of ``negatives`` score >= t (ties at the
    top never push the false-alarm rate above ``far``; with a tie too big to fit, t is above it)."""
    d = np.sort(np.asarray(negatives, dtype=float))[::-1]
    k = int(math.floor(far * len(d)))
    if k == 0:
        return float("inf")
    t = d[k - 1]
    if k < len(d) and d[k] == t:  # a tie straddles the cut: only scores above it are flagged
        return float(np.nextafter(t, np.inf))
    return float(t)


def evaluate(corpus, scores: dict, alarms: dict) -> dict:
    """Corpus metrics for one detector: NAB standard score (normalised), raw score, TP/FP/FN
    counts, pooled PR-AUC and windows caught at a pooled 2 % false-alarm rate."""
    raw, counts = 0.0, {"tp": 0, "fn": 0, "fp": 0, "windows": 0}
    for ser in corpus:
        r, c = nab_raw_score(alarms[ser.name], ser.windows, ser.n_train)
        raw += r
        counts = {k: counts[k] + c[k] for k in counts}
    caught, total = caught_at_far(corpus, scores)
    return {"nab": nab_normalized(raw, counts["windows"]), "raw": raw, **counts,
            "pr_auc": pooled_pr_auc(corpus, scores), "caught": caught, "caught_of": total}


# ----------------------------------------------------------------------------------------------
# Detectors run over a corpus: the project's and the two baselines

BASELINE_GAUSS_ROWS = 6400  # NAB's windowed-Gaussian window (rows)


def windowed_gaussian(ts, values) -> np.ndarray:
    """|x - mean| / std over the previous 6,400 rows (NAB's windowed Gaussian, as a z-score)."""
    x = pd.Series(np.asarray(values, dtype=float)).ffill().fillna(0.0)
    roll = x.rolling(BASELINE_GAUSS_ROWS, min_periods=2)
    mean, std = roll.mean().shift(1), roll.std().shift(1)
    floor = 1e-9 + 1e-6 * float(np.nanmax(np.abs(x))) if len(x) else 1e-9
    return (np.abs(x - mean) / std.clip(lower=floor)).fillna(0.0).to_numpy()


def rolling_robust_z(ts, values) -> np.ndarray:
    """|x - median| / (1.4826 MAD) over the previous 24 hours (median and MAD of those rows)."""
    x = pd.Series(np.asarray(values, dtype=float), index=pd.DatetimeIndex(ts)).ffill().fillna(0.0)
    med = x.rolling("24h", min_periods=2).median()
    mad = (x - med).abs().rolling("24h", min_periods=2).median()
    floor = 1e-9 + 1e-6 * float(np.nanmax(np.abs(x))) if len(x) else 1e-9
    z = np.abs(x - med.shift(1)) / (1.4826 * mad.shift(1)).clip(lower=floor)
    return z.fillna(0.0).to_numpy()


def baseline_alarms(ts, scores: np.ndarray, n_train: int, target_far: float, cooldown: str) -> np.ndarray:
    """A baseline's alarms under the project's alarm policy: threshold at the training scores'
    ``1 - target_far`` quantile, then the same cooldown."""
    from models.detector import cooldown_alarms

    thr = float(np.quantile(scores[:n_train], 1.0 - target_far)) if n_train else math.inf
    return cooldown_alarms(scores > thr, pd.DatetimeIndex(ts), cooldown)


def run_corpus(corpus, config=None, progress=None) -> dict:
    """Scores and alarms of the production detector and both baselines on every series:
    ``{detector: {"scores": {name: array}, "alarms": {name: array}}}``. ``progress(i)``, when given,
    is called after the ``i``-th series."""
    from models.detector import DetectorConfig, run_series

    cfg = config or DetectorConfig()
    out = {k: {"scores": {}, "alarms": {}} for k in ("project", "windowed_gaussian", "rolling_robust_z")}
    for ser in corpus:
        _det, res = run_series(ser.ts, ser.values, cfg)
        out["project"]["scores"][ser.name] = res.score
        out["project"]["alarms"][ser.name] = res.alarm
        for key, fn in (("windowed_gaussian", windowed_gaussian), ("rolling_robust_z", rolling_robust_z)):
            sc = fn(ser.ts, ser.values)
            out[key]["scores"][ser.name] = sc
            out[key]["alarms"][ser.name] = baseline_alarms(ser.ts, sc, ser.n_train, cfg.target_far, cfg.cooldown)
        if progress is not None:
            progress(len(out["project"]["scores"]))
    return out
