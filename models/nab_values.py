"""The value column of a ``timestamp,value`` CSV (``models.nab_io.read_timestamp_value``): numbers,
missing values, numbers written with thousands separators, and the notes that say what was read::

    >>> import pandas as pd
    >>> notes = []
    >>> v, odd = parse_values(pd.Series(["698", "1,698", "12,345,678.5", "n/a"]), "x.csv", notes)
    >>> v.tolist(), odd.tolist()
    ([698.0, 1698.0, 12345678.5, nan], [False, False, False, True])
    >>> notes[0]
    "x.csv: 2 values are written with thousands separators (the first, '1,698', on line 3); read as numbers (1698)"

A comma inside a value can only come from a quoted field (``"1,698"``). It is read as a thousands
separator when every such value groups its digits in threes and no value of the file uses a comma
any other way (``1,5``: a decimal comma, so ``1,698`` might be 1.698); otherwise all of them stay
not numbers, and the note says why.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

MISSING = ("", "nan", "na", "null", "none")
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")


def _ungrouped(text: pd.Series, where: str, notes: list) -> pd.Series:
    """``text`` with thousands separators removed where that reading is unambiguous (noted)."""
    comma = text.str.contains(",", regex=False).to_numpy()
    if not comma.any():
        return text
    grouped = text.str.fullmatch(_GROUPED).to_numpy()
    other = np.flatnonzero(comma & ~grouped)
    first = int(np.flatnonzero(grouped)[0]) if grouped.any() else None
    if first is None:
        return text
    if len(other):
        o = int(other[0])
        notes.append(f"{where}: {int(grouped.sum())} values look like numbers with thousands separators (the first, "
                     f"{text.iloc[first]!r}, on line {first + 2}), but {text.iloc[o]!r} on line {o + 2} uses a comma "
                     "otherwise (a decimal comma?); they are not read as numbers")
        return text
    out = text.where(~grouped, text.str.replace(",", "", regex=False))
    n = int(grouped.sum())
    notes.append(f"{where}: {n} value{'s are' if n != 1 else ' is'} written with thousands separators (the first, "
                 f"{text.iloc[first]!r}, on line {first + 2}); read as numbers ({out.iloc[first]})")
    return out


def parse_values(text: pd.Series, where: str, notes: list, note_negative: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(float values in file order, NaN for missing ones; mask of those that were not numbers).
    ``inf`` is not a number; missing and odd values and (``note_negative``) negative ones are noted."""
    values = pd.to_numeric(_ungrouped(text, where, notes), errors="coerce").to_numpy(dtype=float, copy=True)
    values[np.isinf(values)] = np.nan
    odd = np.isnan(values) & ~text.str.lower().isin(MISSING).to_numpy()
    note_rows(odd, text, "values are not numbers", "read as missing", where, notes)
    note_rows(np.isnan(values) & ~odd, text, "values are missing", "read as missing", where, notes)
    if note_negative:
        note_rows(values < 0, text, "values are negative", "kept as they are", where, notes)
    return values, odd


def note_rows(mask: np.ndarray, text: pd.Series, what: str, done: str, where: str, notes: list) -> None:
    """One note for the rows in ``mask`` (file order): how many, the first one and its line."""
    rows = np.flatnonzero(mask)
    if len(rows):
        what = what.replace("values are not numbers", "value is not a number").replace(
            "values are", "value is") if len(rows) == 1 else what
        notes.append(f"{where}: {len(rows)} {what} (the first, {text.iloc[rows[0]]!r}, on line {rows[0] + 2}); {done}")


#: What a reader does with rows that share a timestamp (the benchmark scores each one).
EVERY_ROW_SCORED = "every row is scored"


def note_repeats(idx: pd.DatetimeIndex, values: np.ndarray, where: str, notes: list,
                 done: str = EVERY_ROW_SCORED) -> None:
    """Timestamps that repeat: how many, how many rows share one, how many differ, and ``done``."""
    dup = idx.duplicated(keep=False)
    if dup.any():
        s = pd.Series(values[dup], index=idx[dup])
        differ = int((s.groupby(level=0).nunique(dropna=False) > 1).sum())
        notes.append(f"{where}: {idx[dup].nunique()} timestamps repeat"
                     + (f" ({differ} with different values)" if differ else "")
                     + f", {int(dup.sum())} rows sharing a timestamp; {done}")
