"""Train the anomaly and cost models on validated telemetry and register them in MLflow.

The newest ``holdout_days`` are held out; a candidate becomes ``@champion`` only if it beats the
current champion on that window. Training data: synthetic history with labelled anomalies
(``wasmops telemetry synth``) plus, for each module the host runs, a baseline bootstrapped from its
real telemetry (``bootstrap_history``).
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from tasks.telemetry import read_window, train, validate_telemetry


@flow(name="train-models", log_prints=True, flow_run_name="train-models {days}d history, {holdout_days}d holdout")
def train_models(synthetic: bool = False, days: int = 28, holdout_days: int = 7, modules: int = 30,
                 seed: int = 0) -> dict:
    """``synthetic`` is kept for compatibility: training always uses labelled synthetic history."""
    import subprocess

    import pandas as pd

    from wasmops.errors import WasmopsError
    from wasmops.telemetry import synthesize
    from wasmops.verdicts import data_digest

    from wasmops.telemetry.synth import bootstrap_history

    log = get_run_logger()
    real = read_window(days * 24 * 60)
    end = pd.Timestamp.now(tz="UTC").floor("h")
    # The store holds real, unlabelled windows: the held-out anomaly metrics need labels, so the
    # models train on synthetic history with labelled anomalies plus a bootstrapped baseline for
    # every module the host actually runs (so live modules are judged against their own behaviour).
    df = synthesize(modules=modules, days=days, anomaly_rate=0.01, seed=seed, end=end)
    boot = bootstrap_history(real, days=days, end=end, seed=seed) if (real is not None and not real.empty) else None
    if boot is not None and not boot.empty:
        log.info(f"bootstrapped baselines for {boot['module'].nunique()} live module(s) from real telemetry")
        df = pd.concat([df, boot], ignore_index=True)
    outcome = validate_telemetry(df, freshness_minutes=None, min_rows=100, key="training-data-validation")
    if not outcome.success:
        names = "; ".join(f"{f['type'].removeprefix('expect_')}({f.get('column') or ''}): {f.get('observed', '')}"
                          for f in outcome.failed[:5])
        raise WasmopsError(f"training data failed validation ({len(outcome.failed)} checks: {names}); nothing trained",
                           where="train-models")
    cut = df["ts"].max() - pd.Timedelta(days=holdout_days)
    train_df, hold_df = df[df["ts"] <= cut], df[df["ts"] > cut]
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown"
    except OSError:
        rev = "unknown"
    digest = data_digest(df)
    out = {}
    for kind in ("anomaly", "cost"):
        out[kind] = train(kind, train_df, hold_df, outcome.result_id, digest, rev)
        print(f"{kind}: v{out[kind]['version']} {'promoted' if out[kind]['promoted'] else 'kept out'}: "
              f"{out[kind]['reason']}")
    return out
