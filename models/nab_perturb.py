"""The NAB development set reshaped like data this project never saw (``bench/ai_real.py`` table 1b).

The figures on the development set are only worth something if they hold on other real series. The
held-out NAB categories and operators' own metrics differ from the development set in ways that can
be named: sampling that is irregular or has lost rows (NAB's realTraffic), coarser steps (30 minutes:
realKnownCause's ``nyc_taxi``; hourly), short histories, and gaps where a collector was down. Each
perturbation here turns every development series into such a series, keeping its labelled windows
(as time ranges), so the detector and the baselines can be scored on it with the same code::

    >>> import numpy as np, pandas as pd
    >>> from models.nab_eval import Series
    >>> ts = pd.date_range("2026-01-01", periods=2000, freq="5min")
    >>> s = Series("x/a.csv", ts, ts.astype(str).to_numpy(), np.arange(2000.0), [(1200, 1300)])
    >>> m = perturb(s, "mean30min", np.random.default_rng(0))
    >>> len(m.values), m.windows, float(m.values[0])   # 6 rows a bin; the bins the window touches
    (334, [(200, 216)], 2.5)
    >>> d = perturb(s, "drop30", np.random.default_rng(0))
    >>> 1300 < len(d.values) < 1500, d.ts[d.windows[0][0]] >= ts[1200]
    (True, True)

Kinds (``KINDS``): ``drop30`` (each row kept with probability 0.7: irregular sampling, some
anomalous rows lost, as in any lossy collector), ``jitter`` (every timestamp moved by up to ±30 % of
the step, order kept), ``mean30min`` (means of 30-minute bins; series sampled at 30 minutes or more
unchanged), ``first2500`` (the first 2,500 rows only: a short history; windows beyond are gone),
``gaps`` (four outages of 6-48 hours each, at most 5 % of the rows each, at random). Windows left with no row, or ending inside
the new training part, are dropped, as ``models.nab_eval.read_series`` does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.nab_eval import Series

KINDS = ("drop30", "jitter", "mean30min", "first2500", "gaps")


def _ns(ts) -> np.ndarray:
    return pd.DatetimeIndex(ts).as_unit("ns").asi8


def _step_ns(ts) -> int:
    t = _ns(ts)
    return int(np.median(np.diff(t))) if len(t) > 1 else 0


def _rows(kind: str, ser: Series, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """New (timestamps as int ns, values) and the half-width (ns) by which a row stands for time
    around it (a bin's extent; 0 for point samples)."""
    t, x = _ns(ser.ts), np.asarray(ser.values, dtype=float)
    step = _step_ns(ser.ts)
    if kind == "drop30":
        keep = rng.random(len(t)) < 0.7
        return t[keep], x[keep], 0
    if kind == "jitter":
        moved = t + (rng.uniform(-0.3, 0.3, len(t)) * step).astype(np.int64)
        order = np.argsort(moved, kind="stable")
        return moved[order], x[order], 0
    if kind == "mean30min":
        if step >= pd.Timedelta("30min").value:
            return t, x, 0
        s = pd.Series(x, index=pd.DatetimeIndex(t)).resample("30min").mean().dropna()
        return _ns(s.index), s.to_numpy(), pd.Timedelta("30min").value
    if kind == "first2500":
        return t[:2500], x[:2500], 0
    if kind == "gaps":
        keep = np.ones(len(t), dtype=bool)
        for _ in range(4):
            width = min(int(rng.uniform(6, 48) * pd.Timedelta("1h").value / max(step, 1)), len(t) // 20)
            start = int(rng.integers(0, max(1, len(t) - width)))
            keep[start:start + width] = False
        return t[keep], x[keep], 0
    raise ValueError(f"unknown perturbation {kind!r} (one of {', '.join(KINDS)})")


def perturb(ser: Series, kind: str, rng: np.random.Generator) -> Series:
    """``ser`` reshaped by ``kind`` (see the module docstring), its windows kept as time ranges."""
    spans = [(_ns(ser.ts)[lo], _ns(ser.ts)[hi]) for lo, hi in ser.windows]
    t, x, extent = _rows(kind, ser, rng)
    ts = pd.DatetimeIndex(t)
    out = Series(ser.name, ts, ts.astype(str).to_numpy(), x, [])
    rows = []
    for start, end in spans:
        lo = int(np.searchsorted(t + extent, start, side="right")) if extent else int(np.searchsorted(t, start))
        hi = int(np.searchsorted(t, end, side="right")) - 1
        if hi >= lo:
            rows.append((lo, hi))
    out.windows = [w for w in sorted(rows) if w[1] >= out.n_train]
    return out


def perturbed_corpus(corpus, kind: str, seed: int = 7) -> list[Series]:
    """Every series of ``corpus`` reshaped by ``kind``, one seeded generator for the whole corpus."""
    rng = np.random.default_rng(seed)
    return [perturb(s, kind, rng) for s in corpus]
