"""The monitoring detector's anomaly score over time, with its threshold and alarms, as a PNG.

One panel per module (small multiples): the score of the module's most surprising metric, its
calibrated threshold as a horizontal line, alarm events marked, the scoring window shaded.
``score_panels`` recomputes the series the way :func:`models.monitor.monitor` does (same
``module_series`` and ``run_series``), for the top modules only::

    >>> import pandas as pd
    >>> p = ScorePanel("dev/m", pd.date_range("2026-01-01", periods=3, freq="h"), [0.1, 2.0, 0.3], 1.5,
    ...                [False, True, False])
    >>> score_chart_png([p])[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from wasmops.pictures import small_multiples_png

MAX_POINTS = 500


@dataclass
class ScorePanel:
    title: str
    ts: object                      # sequence of timestamps
    score: object                   # sequence of floats (NaN allowed: not drawn)
    threshold: float
    alarm: object = None            # sequence of bools, same length as score (None: no alarms)
    since: object = None            # start of the scoring window (shaded), optional
    metric: str = ""
    extra: dict = field(default_factory=dict)


def _check(p: ScorePanel) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    ts = pd.DatetimeIndex(pd.to_datetime(list(p.ts)))
    score = np.asarray(list(p.score), dtype=float)
    if len(ts) != len(score):
        raise ValueError(f"ScorePanel {p.title!r}: field 'score' has {len(score)} values but 'ts' has {len(ts)}")
    alarm = np.zeros(len(score), bool) if p.alarm is None else np.asarray(list(p.alarm), dtype=bool)
    if len(alarm) != len(score):
        raise ValueError(f"ScorePanel {p.title!r}: field 'alarm' has {len(alarm)} values but 'score' has "
                         f"{len(score)}")
    try:
        thr = float(p.threshold)
    except (TypeError, ValueError):
        raise ValueError(f"ScorePanel {p.title!r}: field 'threshold' must be a number, not {p.threshold!r}")
    if math.isnan(thr):
        raise ValueError(f"ScorePanel {p.title!r}: field 'threshold' is NaN")
    return ts, score, alarm


def downsample(ts: pd.DatetimeIndex, score: np.ndarray, alarm: np.ndarray, max_points: int = MAX_POINTS):
    """At most ``max_points`` rows: the max score of each bucket (peaks survive); a bucket alarms if any row did."""
    n = len(score)
    if n <= max_points:
        return ts, score, alarm
    edges = np.linspace(0, n, max_points + 1).astype(int)
    idx, sc, al = [], [], []
    for a, b in zip(edges[:-1], edges[1:]):
        chunk = score[a:b]
        j = a + (int(np.nanargmax(chunk)) if np.isfinite(chunk).any() else 0)
        idx.append(j)
        sc.append(score[j])
        al.append(bool(alarm[a:b].any()))
    return ts[idx], np.asarray(sc), np.asarray(al)


def _draw(ax, p: ScorePanel) -> None:
    ts, score, alarm = downsample(*_check(p))
    thr = float(p.threshold)
    if len(ts):
        ax.plot(ts, score, lw=0.8, label="score")
        if alarm.any():
            ax.scatter(ts[alarm], score[alarm], color="red", s=16, zorder=3, label="alarm")
        if p.since is not None:
            ax.axvspan(pd.Timestamp(p.since), ts.max(), color="0.9", zorder=0)
    else:
        ax.text(0.5, 0.5, "no scores", ha="center", va="center", transform=ax.transAxes)
    if math.isfinite(thr):
        ax.axhline(thr, color="orange", ls="--", lw=1, label=f"threshold {thr:.2f}")
    ax.set_title(f"{p.title} {p.metric}".strip(), fontsize="small")
    ax.tick_params(labelsize="x-small")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="x-small", loc="upper left")


def score_chart_png(panels: list[ScorePanel]) -> bytes:
    """One figure, one panel per module (stacked). No panels: a figure saying so."""
    return small_multiples_png(panels, _draw, cols=1, panel=(7, 2.2), empty="no module scored")


def _margin(m: dict) -> float:
    s, t = m.get("score", 0.0), m.get("threshold", math.inf)
    return s - t if math.isfinite(s) and math.isfinite(t) else -math.inf


def score_panels(df: pd.DataFrame, verdicts, *, now, window_minutes: int, config=None,
                 top: int = 4) -> list[ScorePanel]:
    """Panels for the ``top`` modules by (score − threshold) of their worst metric in the verdicts
    of :func:`models.monitor.monitor` (``hold`` modules have no scores and are skipped)."""
    from models.detector import run_series
    from models.monitor import module_series

    ranked = []
    for v in verdicts:
        if v.metrics:
            metric, m = max(v.metrics.items(), key=lambda kv: _margin(kv[1]))
            ranked.append((_margin(m), v.subject, metric))
    ranked.sort(key=lambda r: r[0], reverse=True)
    since = pd.Timestamp(now) - pd.Timedelta(minutes=window_minutes)
    panels = []
    for _, key, metric in ranked[:top]:
        ns, mod = key.split("/", 1)
        rows = df[(df["namespace"] == ns) & (df["module"] == mod)]
        s = module_series(rows)[metric].dropna()
        _, out = run_series(s.index, s.to_numpy(dtype=float), config)
        panels.append(ScorePanel(key, out.ts, out.score, out.threshold, out.alarm, since=since, metric=metric))
    return panels


def score_markdown(panels: list[ScorePanel], verdicts, png: bytes) -> str:
    """The ``anomaly-scores`` artifact: the chart as a data-URI PNG, the other modules in one line each."""
    from wasmops.pictures import markdown_image

    shown = {p.title for p in panels}
    rest = [v for v in verdicts if v.subject not in shown]
    lines = [f"## Anomaly score over time ({len(panels)} module(s) shown, threshold dashed, alarms red)", "",
             markdown_image(png, "anomaly scores"), ""]
    if rest:
        lines.append(f"Not charted ({len(rest)}): " + ", ".join(f"`{v.subject}` {v.verdict}" for v in rest[:50]))
    return "\n".join(lines)


def anomaly_scores_markdown(hist: pd.DataFrame, verdicts, *, now, window_minutes: int, config=None) -> str:
    """What ``tasks.telemetry.monitor_and_record`` publishes as the ``anomaly-scores`` artifact."""
    panels = score_panels(hist, verdicts, now=now, window_minutes=window_minutes, config=config)
    return score_markdown(panels, verdicts, score_chart_png(panels))


__all__ = ["MAX_POINTS", "ScorePanel", "anomaly_scores_markdown", "downsample", "score_chart_png",
           "score_markdown", "score_panels"]
