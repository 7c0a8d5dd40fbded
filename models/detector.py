"""Continuous-monitoring detector for one metric series: seasonal, rank-based, calibrated.

Example::

    >>> import numpy as np, pandas as pd
    >>> from models.detector import SeasonalRankDetector, run_series
    >>> ts = pd.date_range("2026-03-01", periods=14 * 24, freq="h", tz="UTC")      # two weeks, hourly
    >>> values = 100 + 50 * np.sin(2 * np.pi * ts.hour.to_numpy() / 24) + np.random.default_rng(0).normal(0, 5, len(ts))
    >>> values[300] = 400                                # one spike, in the second week
    >>> n_train = 7 * 24
    >>> det = SeasonalRankDetector().fit(ts[:n_train], values[:n_train])
    >>> out = det.run(ts, values)              # out.score, out.alarm, out.components
    >>> np.flatnonzero(out.alarm)
    array([300])
    >>> det.explain(out, 300).summary()
    'alarm at 2026-03-13 12:00:00+00:00: score 3.37 (threshold 2.26); seasonal 400 vs expected 101.5 (p~4.3e-04)'
    >>> det, out = run_series(ts, values)      # production path: fit on the first 15 %, then stream
    >>> np.flatnonzero(out.alarm)
    array([300])

How a row is scored (every statistic uses row t and rows before it only: the output for row t is
the same whether the series ends at t or goes on, so batch scoring equals streaming):

1. ``u = asinh(x / s0)``: linear near zero, logarithmic for large values, so heavy-tailed and
   zero-inflated metrics (disk writes, request counts) get a usable scale. ``s0`` is a spread of the
   training values that never collapses to zero: the IQR, else the 10-90 %, 2.5-97.5 %, 0.5-99.5 %
   range (a metric that is 85 % zeros has a zero IQR but not a zero 2.5-97.5 % range).
2. Four components, each a statistic of ``u``:
   ``value`` (u itself), ``seasonal`` (u minus the median of the same time of day, +-30 min, over the
   previous ``season_days`` days; +-1.5 steps for rows coarser than 20 minutes, so that each day's
   median holds ``season_rows`` = 3 rows: 30-minute rows had 2, hourly rows 1; NAB dev set as
   30-minute means 53.6 -> 57.2), ``mean_1h`` and
   ``mean_6h`` (trailing means: sustained shifts).
3. Each component's surprisal is ``-log10 p``, p the two-sided empirical tail probability of the
   statistic among its own values over the trailing ``history`` (30 days), plus, when the value is
   beyond everything in that history, ``log10(1 + excess / IQR)``: new extremes keep their order, so
   no two rows tie at a clip. Zeros among zeros have p = 1, so zero-inflation does not alarm.
4. The row's score is the largest component surprisal; the explanation lists all four.

Threshold (``target_far`` = 0.5 % of rows, the documented default, and at most 0.5 % per 5 minutes:
rows finer than ``far_interval`` get ``target_far * step / 5 min``, 0.1 % for 1-minute rows, so
the false alarms per day do not grow with the sampling rate): the larger of the Bonferroni
bound ``log10(K / target_far)`` (K = 4 components: with exact p-values at most ``target_far`` of
normal rows exceed it) and the ``1 - target_far`` quantile of the training rows' scores (lifts it on
series whose p-values are not exact, e.g. strongly autocorrelated ones). That quantile counts only
when the training part holds at least ``min_train_exceed`` (5) expected rows above it (1,000 rows at
0.5 %): from fewer it is the level of the training part's largest incident (a spike and the trailing
means it drags up are one cluster of rows), and it lifted the threshold over the anomalies of short
and coarse series (NAB dev set 61.8 -> 64.0, its 30-minute means 50.4 -> 53.6). The bound needs p-values
that small to exist: a 30-day window of hourly rows holds 720, whose smallest two-sided empirical p
is 2/721 (score 2.56 < 2.90), so an hourly series could alarm only beyond its window's range. So
the bound is capped at the score of the second most extreme rank a full window can hold,
``-log10(4 / (n + 1))`` (n = window / sampling interval; 5-minute data: n = 8,640, no cap). Alarms: a row above the
threshold raises an alarm unless another row was above it within ``cooldown`` (6 h) before it: one
page per incident however long it lasts, not one per row (nor one every 6 h while it goes on).

The defaults were chosen on the NAB development set (``bench/ai_real.py``) as round values, one set
for every series: nothing here is tuned per file. Measured alternatives are listed in
``bench/ai_real.py``'s docstring.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

COMPONENTS = ("value", "seasonal", "mean_1h", "mean_6h")
TRAIN_FRACTION = 0.15


@dataclass(frozen=True)
class DetectorConfig:
    """Production defaults. Every field has a default chosen as a round value (see module doc)."""

    target_far: float = 0.005        #: share of normal rows allowed above the threshold
    history: str = "30D"             #: trailing window of each component's empirical distribution
    season_days: int = 7             #: days of same-time-of-day history in the seasonal baseline
    cooldown: str = "6h"             #: no second alarm this soon after one
    min_history: int = 12            #: rows of a component's history before it scores at all
    far_interval: str = "5min"       #: ``target_far`` is per row and at most per this much time
    min_train_exceed: float = 5.0    #: expected training rows above the quantile before it may lift the bound
    season_rows: int = 3             #: rows (at least) in each time-of-day median of the seasonal baseline


@dataclass
class ComponentExplanation:
    component: str
    observed: float      # natural units (the seasonal component: the value)
    expected: float      # natural units: the component's trailing median (seasonal: the baseline)
    surprisal: float     # -log10 of the two-sided tail probability (plus the beyond-range term)


@dataclass
class AlarmExplanation:
    ts: str
    value: float
    score: float
    threshold: float
    alarm: bool
    top_component: str
    components: list[ComponentExplanation] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        c = next(c for c in self.components if c.component == self.top_component)
        verdict = "alarm" if self.alarm else ("above threshold" if self.score > self.threshold else "normal")
        return (f"{verdict} at {self.ts}: score {self.score:.2f} (threshold {self.threshold:.2f}); "
                f"{c.component} {c.observed:.4g} vs expected {c.expected:.4g} (p~{10 ** -c.surprisal:.1e})")


@dataclass
class DetectorOutput:
    ts: pd.DatetimeIndex
    values: np.ndarray
    score: np.ndarray              # max component surprisal per row (0 for missing values)
    above: np.ndarray              # score > threshold
    alarm: np.ndarray              # alarm events (after the cooldown)
    components: pd.DataFrame       # surprisal per component
    stats: pd.DataFrame            # component statistics in u space, and their expectations
    threshold: float


# ----------------------------------------------------------------------------------------------
# Pieces

def _naive_ns(idx) -> np.ndarray:
    """datetime64[ns] values of an index, aware (as UTC) or naive, without pandas' tz deprecation."""
    idx = pd.DatetimeIndex(idx)
    return (idx.tz_convert(None) if idx.tz is not None else idx).to_numpy(dtype="datetime64[ns]")


def robust_spread(values) -> float:
    """A spread of ``values`` that is zero only when they are all equal (then max |x| or 1)."""
    a = np.asarray(values, dtype=float)
    a = a[np.isfinite(a)]
    if len(a) == 0:
        return 1.0
    for lo, hi, z in ((25, 75, 1.349), (10, 90, 2.563), (2.5, 97.5, 3.92), (0.5, 99.5, 5.15)):
        d = float(np.percentile(a, hi) - np.percentile(a, lo))
        if d > 0:
            return d / z
    m = float(np.max(np.abs(a)))
    return m if m > 0 else 1.0


def tail_surprisal(stat: pd.Series, window: str, min_periods: int) -> pd.Series:
    """Two-sided empirical tail surprisal of each value of ``stat`` among ``stat`` over the trailing
    ``window`` (itself included), plus log10(1 + excess/IQR) beyond the previous range."""
    roll = stat.rolling(window, min_periods=min_periods)
    rank, n = roll.rank(), roll.count()
    p = (2.0 * np.minimum(rank, n - rank + 1.0) / (n + 1.0)).clip(upper=1.0)
    prev = stat.shift(1).rolling(window, min_periods=min_periods)
    hi, lo = prev.max(), prev.min()
    iqr = prev.quantile(0.75) - prev.quantile(0.25)
    scale = np.maximum(iqr, 1e-3 * (hi - lo)).clip(lower=1e-6)
    excess = np.maximum(np.maximum(stat - hi, lo - stat), 0.0) / scale
    return (-np.log10(p) + np.log10(1.0 + excess.fillna(0.0))).fillna(0.0)


def _asof(series: pd.Series, times: np.ndarray, tolerance: np.timedelta64) -> np.ndarray:
    idx = _naive_ns(series.index)
    pos = np.searchsorted(idx, times, side="right") - 1
    safe = np.clip(pos, 0, None)
    ok = (pos >= 0) & ((times - idx[safe]) <= tolerance)
    return np.where(ok, series.to_numpy()[safe], np.nan)


def seasonal_baseline(u: pd.Series, days: int, step_ns: float | None = None, min_rows: int = 3) -> pd.Series:
    """Median over the previous ``days`` days of the median around the same time of day: of 1 hour,
    or of ``min_rows`` sampling steps ``step_ns`` where that is longer (30-minute rows: 90 minutes,
    3 rows, not 2; hourly rows: 3 hours, not the one row), centred on the same time of day."""
    width = max(pd.Timedelta("60min").value, int(min_rows * step_ns)) if step_ns else pd.Timedelta("60min").value
    hour_median = u.rolling(pd.Timedelta(width), min_periods=1).median()  # at t: median of (t - width, t]
    shift = np.timedelta64(width // 2, "ns")
    looks = [_asof(hour_median, _naive_ns(u.index) - np.timedelta64(d, "D") + shift, np.timedelta64(31, "m"))
             for d in range(1, days + 1)]
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no history yet
            base = np.nanmedian(np.vstack(looks), axis=0)
    return pd.Series(base, index=u.index)


def component_stats(u: pd.Series, cfg: DetectorConfig, step_ns: float | None = None) -> pd.DataFrame:
    """The four component statistics (u space), row-aligned with ``u``; ``step_ns``: the sampling
    interval learnt from the training rows (the seasonal baseline's median spans ``season_rows`` of them)."""
    base = seasonal_baseline(u, cfg.season_days, step_ns, cfg.season_rows)
    fallback = u.rolling("24h", min_periods=1).median().shift(1).fillna(u.iloc[0] if len(u) else 0.0)
    base = base.fillna(fallback)
    return pd.DataFrame({"value": u, "seasonal": u - base, "season_base": base,
                         "mean_1h": u.rolling("60min", min_periods=1).mean(),
                         "mean_6h": u.rolling("6h", min_periods=1).mean()}, index=u.index)


def cooldown_alarms(above: np.ndarray, ts: pd.DatetimeIndex, cooldown: str) -> np.ndarray:
    """Alarm events: rows above threshold with no row above threshold within ``cooldown`` before
    them. One page per incident however long it lasts: an incident goes on while rows above the
    threshold come less than ``cooldown`` apart (it used to re-page every ``cooldown``)."""
    out = np.zeros(len(above), dtype=bool)
    t = _naive_ns(ts).astype(np.int64)
    gap = pd.Timedelta(cooldown).value
    last = None
    for i in np.flatnonzero(above):
        if last is None or t[i] - t[last] >= gap:
            out[i] = True
        last = i
    return out


def incident_start(above: np.ndarray, alarm: np.ndarray, i: int) -> int | None:
    """The alarm event of the incident row ``i`` (above threshold) belongs to, else None."""
    if not above[i]:
        return None
    starts = np.flatnonzero(alarm[: i + 1])
    return int(starts[-1]) if len(starts) else None


# ----------------------------------------------------------------------------------------------
# The detector

class SeasonalRankDetector:
    """See the module docstring. ``fit`` learns the scale and the threshold from training rows;
    ``run`` scores a whole series (training rows included) causally."""

    def __init__(self, config: DetectorConfig | None = None):
        self.config = config or DetectorConfig()

    def fit(self, ts, values) -> SeasonalRankDetector:
        ts, x = _clean(ts, values)
        self.scale_ = robust_spread(x)
        self.step_ = _step_ns(ts)
        self.threshold_ = -math.inf
        train_scores = self._score(ts, x)[0]
        self.far_ = self._row_far(ts)
        nominal = min(math.log10(len(COMPONENTS) / self.far_), self._attainable(ts))
        self.threshold_ = max(nominal, self._train_quantile(train_scores))
        self.n_train_ = len(x)
        self.train_far_ = float(np.mean(train_scores > self.threshold_)) if len(train_scores) else float("nan")
        return self

    def _train_quantile(self, train_scores: np.ndarray) -> float:
        """The training scores' ``1 - far`` quantile, or -inf when the training rows are too few to
        estimate it: fewer than ``min_train_exceed`` expected rows above it (n_train x far; 1,000 rows
        at 0.5 %). With fewer, the quantile is the level of the training part's one largest incident
        (a spike and the trailing means it drags up are one cluster of rows), not a false-alarm rate."""
        if len(train_scores) * self.far_ < self.config.min_train_exceed:
            return -math.inf
        return float(np.quantile(train_scores, 1.0 - self.far_))

    def _attainable(self, ts: pd.DatetimeIndex) -> float:
        """The score of the second most extreme of the rows a full ``history`` window holds at this
        series' sampling interval (the training rows' median step): ``-log10(4 / (n + 1))``."""
        step = _step_ns(ts)
        if step is None:
            return math.inf
        n = pd.Timedelta(self.config.history).value / step
        return -math.log10(4.0 / (n + 1.0))

    def _row_far(self, ts: pd.DatetimeIndex) -> float:
        """The target per row: ``target_far``, scaled down for rows finer than ``far_interval`` so that
        1-minute data gets the false alarms per day of 5-minute data, not five times as many."""
        step = _step_ns(ts)
        if step is None:
            return self.config.target_far
        return self.config.target_far * min(1.0, step / pd.Timedelta(self.config.far_interval).value)

    def _score(self, ts: pd.DatetimeIndex, x: np.ndarray):
        cfg = self.config
        missing = ~np.isfinite(x)
        filled = pd.Series(x, index=ts).ffill().fillna(0.0)
        u = np.arcsinh(filled / self.scale_)
        stats = component_stats(u, cfg, getattr(self, "step_", None))
        comps = pd.DataFrame({c: tail_surprisal(stats[c], cfg.history, cfg.min_history).to_numpy()
                              for c in COMPONENTS}, index=ts)
        score = comps.to_numpy().max(axis=1) if len(comps) else np.zeros(0)
        score = np.where(missing, 0.0, score)
        return score, comps, stats

    def run(self, ts, values) -> DetectorOutput:
        """Score every row of a series (causal), flag rows above threshold, raise alarms."""
        ts, x = _clean(ts, values)
        score, comps, stats = self._score(ts, x)
        above = score > self.threshold_
        return DetectorOutput(ts, x, score, above, cooldown_alarms(above, ts, self.config.cooldown),
                              comps, stats, self.threshold_)

    def explain(self, out: DetectorOutput, i: int) -> AlarmExplanation:
        """Per-component explanation of row ``i`` of ``out`` (observed vs expected, surprisal)."""
        rows = []
        hist = out.stats.iloc[: i + 1]
        for c in COMPONENTS:
            if c == "seasonal":
                obs, exp = hist["value"].iloc[-1], hist["season_base"].iloc[-1]
            else:
                window = hist[c][hist.index > hist.index[-1] - pd.Timedelta(self.config.history)]
                obs, exp = hist[c].iloc[-1], float(np.median(window.iloc[:-1])) if len(window) > 1 else np.nan
            rows.append(ComponentExplanation(c, self._natural(obs), self._natural(exp),
                                             float(out.components[c].iloc[i])))
        top = max(rows, key=lambda r: r.surprisal).component
        return AlarmExplanation(str(out.ts[i]), float(out.values[i]), float(out.score[i]), out.threshold,
                                bool(out.alarm[i]), top, rows)

    def _natural(self, u: float) -> float:
        return float(np.sinh(u) * self.scale_) if np.isfinite(u) else float("nan")


def _step_ns(ts) -> float | None:
    """The median step between rows in ns (None for fewer than two rows or no positive step)."""
    if len(ts) < 2:
        return None
    step = float(np.median(np.diff(_naive_ns(ts)).astype(np.int64)))
    return step if step > 0 else None


def _clean(ts, values) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Timestamps as a sorted DatetimeIndex (stable: equal stamps keep their order) and floats."""
    idx = pd.DatetimeIndex(pd.to_datetime(ts))
    x = np.asarray(values, dtype=float)
    if len(idx) != len(x):
        raise ValueError(f"{len(idx)} timestamps but {len(x)} values")
    if not idx.is_monotonic_increasing:
        order = np.argsort(_naive_ns(idx), kind="stable")
        idx, x = idx[order], x[order]
    return idx, x


def train_rows(n: int) -> int:
    """The production training part: the first 15 % of rows."""
    return int(math.floor(TRAIN_FRACTION * n))


def run_series(ts, values, config: DetectorConfig | None = None) -> tuple[SeasonalRankDetector, DetectorOutput]:
    """The production path for one series: fit on its first 15 %, then score every row in order."""
    ts, x = _clean(ts, values)
    n = train_rows(len(x))
    det = SeasonalRankDetector(config).fit(ts[:n], x[:n])
    return det, det.run(ts, x)
