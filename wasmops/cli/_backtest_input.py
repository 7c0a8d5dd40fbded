"""`wasmops models backtest-forecast`: the hourly series it backtests and what it says about the
scoring. Hours with no number are forecast from (as 0) but never scored; partial first and last
hours are left out; a zero seasonal-naive MAE is explained instead of printed as nan ratios."""

from __future__ import annotations

import numpy as np

from ..errors import SpecError


#: What the backtest does with rows that share a timestamp (said in the note on them).
SUMMED = ("each is summed into its hour like any other row (the hour's value counts every one of them); "
          "dedupe the file first if they are copies")


def hourly_series(csv_path, notes: list[str]):
    """(hourly values, observed hours) of a ``timestamp,value`` CSV; what was left out goes to notes."""
    from models.forecast_select import hourly_table, trim_partial_edges
    from models.nab_eval import read_timestamp_value

    _raw, ts, values, _ = read_timestamp_value(csv_path, notes, note_negative=True, repeats=SUMMED)
    if not np.isfinite(values).any():
        raise SpecError("value: no number in the file", where=str(csv_path))
    h, dropped = trim_partial_edges(hourly_table(ts, values))
    for which, hour, rows, usual in dropped:
        notes.append(f"{csv_path}: the {which} hour ({hour}) has {rows} rows where most have {usual}; "
                     "a partial hour, left out")
    empty = int((h["rows"] == 0).sum())
    if empty:
        notes.append(f"{csv_path}: {empty} of {len(h)} hours have no rows and count as 0 in the forecasts' "
                     "input; they are not scored")
    blank = int(((h["rows"] > 0) & (h["numbers"] == 0)).sum())
    if blank:
        notes.append(f"{csv_path}: {blank} hours have rows but no number; they count as 0 in the forecasts' "
                     "input and are not scored")
    some = int(((h["numbers"] > 0) & (h["numbers"] < h["rows"])).sum())
    if some:
        notes.append(f"{csv_path}: {some} hours have rows that are not numbers beside ones that are; "
                     "their sums leave those rows out")
    return h["value"], (h["numbers"] > 0).to_numpy()


def zero_baseline_note(bt) -> str | None:
    """Words for the case the ratios cannot express: seasonal-naive-168 h exact on every scored hour."""
    from models.forecast_select import maes

    m = maes(bt)
    if not m["naive168"] == 0:
        return None
    return ("the seasonal-naive-168 h forecast is exact on every scored hour (MAE 0: the series repeats "
            "the week before, e.g. it is constant or all zero), so the ratios to it are undefined; MAE: "
            + ", ".join(f"{k} {v:.6g}" for k, v in m.items()))


def model_fallback_note(bt) -> str | None:
    """Words for a model row that is seasonal-naive-168 h in disguise: the model forecasts amounts
    (costs, counts) scaled by their weekly mean, and cannot be fitted where that mean is not positive."""
    same = int((bt["model"] == bt["naive168"]).sum())
    if not len(bt) or same < len(bt):
        return None
    return ("the model could not be fitted at any origin (it forecasts non-negative amounts scaled by their mean "
            "over the week before, and this series' weekly mean is not positive), so it used the seasonal-naive-168 h "
            "forecast instead: its ratio is that of naive168")

