"""The production cost model (``models.forecast.CostForecaster``) on real series played as modules' costs.

    OMP_NUM_THREADS=1 .venv/bin/python bench/cost_real.py [NAB_DIR ...]     # default ../shared/data/nab

Each real hourly series (read as ``wasmops models backtest-forecast`` reads it: summed per hour) is
one module's hourly cost (its telemetry's fuel, priced at 1 USD a fuel unit; hours with no number
have no telemetry row). realTweets' ten series (the same weeks of 2015) are one workspace of ten
modules, as the model pools a workspace's modules; every other series of 6 weeks or more under
``data/realKnownCause`` or ``data/realTraffic`` is a workspace of one module.

Rolling origins a week apart over the last 30 % of each workspace (at least 4 weeks behind each):
at each origin the model is fitted, as ``train-models`` fits it, on the hours up to the origin
(which includes choosing each module's champion on backtests inside that history), then forecasts
the next 168 hours. Per module, MAE over those hours of the forecast served (each module's champion),
of the pooled model alone (what production served before per-module champions, ``select_weeks=0``),
and of mean4w, each divided by the MAE of seasonal-naive-168 h from the same origin.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models import forecast_champions as champions  # noqa: E402
from models.features import cost_matrix, hourly_cost  # noqa: E402
from models.forecast import CostForecaster  # noqa: E402
from wasmops.cli._backtest_input import hourly_series  # noqa: E402

DEFAULT_NAB = ROOT.parent / "shared" / "data" / "nab"
PRICES = {"fuel_per_million": 1e6, "memory_gib_hour": 0.0, "invocations_per_million": 0.0}  # cost = fuel
MIN_HOURS = 6 * 168
champions.MIN_HISTORY = int(os.environ.get("BENCH_MIN_HISTORY", champions.MIN_HISTORY))  # to compare rules
champions.SWITCH_MARGIN = float(os.environ.get("BENCH_SWITCH_MARGIN", champions.SWITCH_MARGIN))


def telemetry(series: dict[str, tuple[pd.Series, np.ndarray]]) -> pd.DataFrame:
    """One telemetry row per hour per module (ts = the hour's end), cost = the hour's value (0 in an
    hour with no number: a module with no calls still reports its windows)."""
    parts = []
    for name, (y, observed) in series.items():
        parts.append(pd.DataFrame({"ts": y.index.tz_localize(None).tz_localize("UTC") + pd.Timedelta(hours=1),
                                   "module": name, "team": "bench", "fuel": y.to_numpy(dtype=float),
                                   "invocations": 0, "memory_limit": 0, "replicas": 0, "window_s": 3600}))
    return pd.concat(parts, ignore_index=True)


def workspaces(nab_dir: Path) -> dict[str, dict]:
    out = {}
    tweets = {f.stem: hourly_series(f, []) for f in sorted((nab_dir / "data" / "realTweets").glob("*.csv"))}
    if tweets:
        out["realTweets (10 modules)"] = tweets
    for cat in ("realKnownCause", "realTraffic"):
        for f in sorted((nab_dir / "data" / cat).glob("*.csv")):
            y, obs = hourly_series(f, [])
            if len(y) >= MIN_HOURS:
                out[f"{cat}/{f.stem}"] = {f.stem: (y, obs)}
    return out


def backtest(df: pd.DataFrame, observed: dict[str, np.ndarray]) -> tuple[dict[str, dict[str, list[float]]], dict[str, list[str]]]:
    """Per module: absolute errors per candidate over every origin's week, and the champions chosen."""
    times, modules, Y = cost_matrix(hourly_cost(df, PRICES))
    observed = {m: pd.Series(o, index=_ends(df, m)).reindex(times, fill_value=False).to_numpy(dtype=bool)
                for m, o in observed.items()}
    n = len(times)
    first = max(int(n * 0.7), 4 * 168)
    errs = {str(m): {k: [] for k in ("served", "model", "naive168", "mean4w")} for m in modules}
    chosen = {str(m): [] for m in modules}
    for origin in range(first - 1, n - 168, 168):
        hist = df[df["ts"] <= times[origin]]
        fc = CostForecaster(prices=PRICES).fit(hist)
        frame, model = fc._served_and_model(hist, 168)
        served = frame.pivot(index="ts", columns="module", values="cost")
        model = model.reshape(168, -1)
        naive = champions.forecasts(Y[: origin + 1], 168)
        actual = Y[origin + 1: origin + 169]
        for j, m in enumerate(map(str, modules)):
            ok = np.isfinite(actual[:, j]) & observed[m][origin + 1: origin + 169]
            for k, f in (("served", served[m].to_numpy()), ("model", model[:, list(served.columns).index(m)]),
                         ("naive168", naive["naive168"][:, j]), ("mean4w", naive["mean4w"][:, j])):
                errs[m][k].extend(np.abs(f - actual[:, j])[ok])
            chosen[m].append(_choice(fc, m))
    return errs, chosen


def _choice(fc: CostForecaster, module: str) -> str:
    """``mean4w 0.81``: the champion, and the best naive's backtest MAE over the model's."""
    mae = fc.champion_mae_.get(module) or {}
    naive = min((v for k, v in mae.items() if k != "model"), default=float("nan"))
    ratio = naive / mae["model"] if mae.get("model") else float("nan")
    return f"{fc.champions_.get(module, 'model')} {ratio:.2f}"


def _ends(df: pd.DataFrame, module: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(df.loc[df["module"] == module, "ts"])


def main(dirs: list[Path]) -> None:
    t0 = time.perf_counter()
    print("production cost model, per module: MAE / MAE(seasonal-naive-168 h), 168 h ahead, weekly origins over "
          "the last 30 %")
    print(f"  {'workspace':34} {'module':28} {'served':>7} {'model':>7} {'mean4w':>7}  champions per origin")
    ratios = {"served": [], "model": []}
    for d in dirs:
        for ws, series in workspaces(d).items():
            errs, chosen = backtest(telemetry(series), {m: obs for m, (_, obs) in series.items()})
            for m, e in errs.items():
                base = float(np.mean(e["naive168"])) if e["naive168"] else float("nan")
                r = {k: float(np.mean(e[k])) / base if base > 0 else float("nan") for k in ("served", "model", "mean4w")}
                ratios["served"].append(r["served"])
                ratios["model"].append(r["model"])
                print(f"  {ws[:34]:34} {m[:28]:28} {r['served']:7.2f} {r['model']:7.2f} {r['mean4w']:7.2f}  "
                      f"{', '.join(chosen[m])}")
    for k, v in ratios.items():
        a = np.asarray(v, dtype=float)
        a = a[np.isfinite(a)]
        if len(a):
            print(f"  {k}: mean {a.mean():.3f}, worst {a.max():.2f}, over 1.0 on {int((a > 1.0).sum())} of {len(a)}")
    print(f"  [{time.perf_counter() - t0:.0f} s]")


if __name__ == "__main__":
    main([Path(a) for a in sys.argv[1:]] or [DEFAULT_NAB])
