"""The forecasters fit and predict on one OpenMP thread, whatever OMP_NUM_THREADS says: their
threads spin-wait for each other on a busy machine (a backtest took 282 s instead of 1 s in a test
run at load ~5; models/threads.py). Run in a subprocess, so the environment is the user's and not
the test suite's (the Makefile exports OMP_NUM_THREADS=1)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import numpy as np, pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor as H
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
seen = []
for name in ("fit", "predict"):
    orig = getattr(H, name)
    def spy(self, *a, _orig=orig, **k):
        seen.append(_openmp_effective_n_threads())
        return _orig(self, *a, **k)
    setattr(H, name, spy)
from models.forecast_select import backtest
rng = np.random.default_rng(SEED)
hours = pd.date_range("2026-01-01", periods=24 * 60, freq="h")
y = pd.Series(100 + 30 * np.sin(np.arange(len(hours)) * 2 * np.pi / 24) + rng.gamma(2, 5, len(hours)), index=hours)
backtest(y, horizon=168, max_iter=5)
print("outside", _openmp_effective_n_threads(), "inside", sorted(set(seen)), len(seen))
"""


def test_backtest_fits_and_predicts_on_one_openmp_thread_whatever_the_environment():
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    env["OMP_NUM_THREADS"] = "4"               # what a user's shell may say; the default is one per core
    out = subprocess.run([sys.executable, "-c", PROBE.replace("SEED", "3")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    words = out.stdout.split()
    assert words[1] == "4"                     # the limit is the models' own: the process keeps its setting
    assert "inside [1]" in out.stdout and int(words[-1]) >= 2, out.stdout
