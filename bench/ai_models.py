"""Model quality and speed on synthetic telemetry (``wasmops.telemetry.synth``).

    python bench/models.py                 # 40 modules x 6 weeks hourly, 1,000,000 rows scored
    python bench/models.py 20 4 200000     # modules, weeks, rows to score

Prints the anomaly model's held-out ROC-AUC and PR-AUC on the final week (per-module robust
scaling vs. global scaling), the cost forecaster's MAE against the 168-hour seasonal-naive
baseline on the final week, fit times, the time to score N rows, and one train_and_register into a
temporary MLflow store.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import tempfile  # noqa: E402
import time  # noqa: E402

import pandas as pd  # noqa: E402

from models.anomaly import AnomalyModel  # noqa: E402
from models.forecast import CostForecaster  # noqa: E402
from wasmops.telemetry.synth import synthesize  # noqa: E402


def _timed(fn, *a, **kw):
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t0


def main(modules: int = 40, weeks: int = 6, score_rows: int = 1_000_000) -> None:
    df = synthesize(modules=modules, teams=5, days=weeks * 7, seed=0)
    cut = df["ts"].max().floor("h") - pd.Timedelta(hours=167)
    train, holdout = df[df["ts"] < cut], df[df["ts"] >= cut]
    print(f"data: {modules} modules x {weeks} weeks hourly = {len(df):,} rows; train {len(train):,}, "
          f"held-out final week {len(holdout):,} ({int(holdout['is_anomaly'].sum())} injected anomalies)")

    model, fit_s = _timed(AnomalyModel().fit, train)
    m = model.evaluate(holdout)
    g = AnomalyModel(per_module=False).fit(train).evaluate(holdout)
    print(f"anomaly  ROC-AUC {m['roc_auc']:.4f}  PR-AUC {m['pr_auc']:.4f}  (target >= 0.97, >= 0.5)  "
          f"precision {m['precision']:.3f} recall {m['recall']:.3f} FPR {m['fpr']:.4f} at threshold "
          f"{m['threshold']:.3f}; fit {fit_s:.2f} s")
    print(f"         global scaling instead of per-module: ROC-AUC {g['roc_auc']:.4f}  PR-AUC {g['pr_auc']:.4f}")

    fc, fit_s = _timed(CostForecaster().fit, train)
    c, eval_s = _timed(fc.evaluate, train, holdout)
    nl = CostForecaster(use_lags=False).fit(train).evaluate(train, holdout)
    print(f"cost     MAE {c['mae']:.5f} vs seasonal-naive {c['baseline_mae']:.5f}: ratio {c['mae_ratio']:.3f} "
          f"(target <= 0.85); team-level ratio {c['team_mae'] / c['team_baseline_mae']:.3f}; "
          f"fit {fit_s:.2f} s, 168 h forecast {eval_s:.2f} s")
    print(f"         without lag features: ratio {nl['mae_ratio']:.3f}")

    days = score_rows / modules / 24
    big = synthesize(modules=modules, teams=5, days=days, seed=0).head(score_rows)  # same modules, longer
    cpu0 = time.process_time()
    scores, score_s = _timed(model.score, big)
    cpu_s = time.process_time() - cpu0
    _, explain_s = _timed(model.explain, big.iloc[0])
    print(f"scoring  {len(big):,} rows in {score_s:.2f} s wall, {cpu_s:.2f} s CPU ({len(big) / score_s:,.0f} rows/s); "
          f"alert rate {(scores > model.threshold).mean():.4f}; one explanation {explain_s * 1000:.1f} ms")

    from models.registry import train_and_register  # noqa: PLC0415  (mlflow is slow to import)

    with tempfile.TemporaryDirectory(prefix="wasmops-mlflow-") as d:
        kw = dict(gx_result_id="bench", data_digest="sha256:bench", code_version="bench",
                  tracking_uri=f"sqlite:///{d}/mlflow.db", artifact_location=f"{d}/mlartifacts")
        r1, t1 = _timed(train_and_register, "anomaly", train, holdout, model=model, **kw)
        r2, t2 = _timed(train_and_register, "anomaly", train, holdout, model=model, **kw)
    print(f"registry first train_and_register {t1:.2f} s (schema + log + register: v{r1.version} "
          f"promoted={r1.promoted}); second {t2:.2f} s (v{r2.version} promoted={r2.promoted}: {r2.reason})")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
