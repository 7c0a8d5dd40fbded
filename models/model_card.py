"""What a registered model version says about itself: the figures it was judged on and weighed
against (model-version tags ``eval.*`` and ``vs.*``) and a plain-text description.

    >>> figures_tags({"mae": 1.0}, {"mae": 2.0}, "3", {"naive168": {"mae": 1.5}})
    {'eval.mae': '1', 'vs.champion_v3.mae': '2 (beat)', 'vs.baseline_naive168.mae': '1.5 (beat)'}
"""

from __future__ import annotations


HIGHER = {"roc_auc", "pr_auc", "recall", "precision"}      #: better when higher
LOWER = {"mae", "team_mae", "fpr"}                          #: better when lower


def figures_tags(metrics: dict, champ: dict | None, champ_version, baseline: dict | None) -> dict[str, str]:
    """Version tags: the metrics it was judged on and the figures it was weighed against (the
    cost model's own 168 h seasonal-naive MAE, ``baseline_mae``, counts as a baseline)."""
    if "baseline_mae" in metrics:
        baseline = {**(baseline or {}), "seasonal_naive_168h": {"mae": metrics["baseline_mae"]}}
    tags = {f"eval.{k}": f"{v:.6g}" for k, v in metrics.items() if isinstance(v, (int, float))}
    for who, figs in ((f"champion_v{champ_version}", champ), *((f"baseline_{b}", f) for b, f in (baseline or {}).items())):
        for k, v in (figs or {}).items():
            if k in metrics and k in HIGHER | LOWER:
                better = v > metrics[k] if k in LOWER else v < metrics[k]
                tags[f"vs.{who}.{k}"] = f"{v:.6g} ({'beat' if better else 'not beaten'})"
    return tags


def describe_version(kind: str, version: str, metrics: dict, figures: dict, source: str, synthetic: bool,
                     verdict: str, reason: str) -> str:
    """The model version's description: its verdict, the metrics, what it was weighed against, the data."""
    head = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()
                     if k in ("roc_auc", "pr_auc", "recall", "fpr", "mae", "mae_ratio"))
    vs = "; ".join(f"{k.removeprefix('vs.')} {v}" for k, v in figures.items() if k.startswith("vs."))
    return (f"{kind} model v{version}, {verdict}: {reason}\n\nJudged on the holdout: {head}.\n"
            f"Weighed against: {vs or 'nothing (first model)'}.\n"
            f"Data: {source} (data.synthetic={str(synthetic).lower()}).")


MODEL_DESCRIPTIONS = {
    "anomaly": ("Anomaly model for module telemetry: per-module robust z-scores (fuel/call, peak memory, "
                "p95 latency, error rate) into an IsolationForest; threshold at the 99th percentile of the "
                "training scores. Trained by the train-models flow on each module's own validated history "
                "from the telemetry store; judged on the newest week with injected anomalies against the "
                "champion and a robust-z baseline. @champion scores live telemetry; the latest other "
                "version scores in shadow. Tags: `data.synthetic`, `data.source`, `eval.*`, `vs.*`, `champion.*`."),
    "cost": ("Cost forecaster: HistGradientBoosting on hour/weekday/module and 24 h/168 h lags of each "
             "module's hourly cost; each module is served by its champion (the model, or a naive forecast "
             "that beat it in a backtest on the module's own history: `forecast.champions` tag, "
             "`forecast_champions.json` artifact). Judged by MAE over the newest week against the champion and the "
             "168 h seasonal-naive forecast. Tags: `data.synthetic`, `data.source`, `eval.*`, `vs.*`, `champion.*`."),
}
