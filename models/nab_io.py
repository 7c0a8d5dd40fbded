"""Reading NAB-format data as operators have it: ``timestamp,value`` CSVs under a directory and a
``combined_windows.json`` of labelled windows (``wasmops models benchmark``, ``bench/ai_real.py``).

Bad input is a ``SpecError`` naming the file, the line or entry and the field. What is read but
worth knowing (an ambiguous day/month order, repeated timestamps, a symlink loop, labels that name
no series) goes into ``notes``, a list the caller prints::

    >>> import pandas as pd
    >>> notes = []
    >>> idx = parse_times(pd.Series(["01/03/2014 10:00", "13/03/2014 10:00"]), "x.csv", notes)
    >>> [str(t) for t in idx], notes
    (['2014-03-01 10:00:00', '2014-03-13 10:00:00'], ['x.csv: read as day/month (the only order every row fits)'])

Times: one format for the whole column, guessed from its first row and checked on every row (a
per-row guess read ``01/03`` as 3 January and ``13/03`` as 13 March in one file). When day-first
and month-first both fit every row, the reading in which the rows run forward in time at the most
regular steps wins; a tie reads month first, with a note. All-digit times are epoch seconds (or
milliseconds from 10^11). Times with zones (``Z``, ``+01:00``) may differ in offset (a DST change)
and are compared in UTC; a file mixing zoned and unzoned times is refused.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from models.nab_values import EVERY_ROW_SCORED, note_repeats, parse_values

TRAIN_FRACTION = 0.15
_ZONE = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")
_EPOCH = re.compile(r"\d{9,13}(?:\.\d+)?")


@dataclass
class Series:
    """One labelled series: ``name`` (relative path), timestamps, values, window row ranges."""

    name: str
    ts: pd.DatetimeIndex
    raw_ts: np.ndarray                 # timestamps as written in the input
    values: np.ndarray
    windows: list[tuple[int, int]] = field(default_factory=list)  # inclusive row ranges
    non_numeric: int = 0               # values that were not numbers (kept as NaN: missing)

    @property
    def n_train(self) -> int:
        return train_rows(len(self.values))

    def in_window(self) -> np.ndarray:
        lab = np.zeros(len(self.values), dtype=bool)
        for lo, hi in self.windows:
            lab[lo:hi + 1] = True
        return lab


def train_rows(n: int) -> int:
    """Rows in the training (probationary) part: the first 15 %."""
    return int(math.floor(TRAIN_FRACTION * n))


def find_csvs(data_dir, notes: list | None = None) -> list[Path]:
    """Every ``*.csv`` (any case) under ``data_dir``, following symlinked directories but each real
    directory once (a symlink loop is noted, not walked 40 levels deep); hidden files and
    directories and broken symlinks are left out (the latter noted). Sorted."""
    root, seen, out = Path(data_dir), set(), []
    notes = notes if notes is not None else []
    for d, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(d)
        if real in seen:
            notes.append(f"{Path(d).relative_to(root)}: a directory already read (a symlink loop?); skipped")
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(x for x in dirs if not x.startswith("."))
        for f in files:
            p = Path(d) / f
            if f.startswith(".") or not f.lower().endswith(".csv"):
                continue
            if not p.exists():
                notes.append(f"{p.relative_to(root)}: a broken symlink; skipped")
                continue
            out.append(p)
    return sorted(out)


def parse_times(raw: pd.Series, where: str, notes: list) -> pd.DatetimeIndex:
    """The column's times (see the module docstring); ``SpecError`` naming the first bad line."""
    from wasmops.errors import SpecError

    if raw.str.fullmatch(_EPOCH).all():
        x = raw.astype(float)
        unit = "ms" if x.max() >= 1e11 else "s"
        notes.append(f"{where}: timestamps read as epoch {'milliseconds' if unit == 'ms' else 'seconds'} (UTC)")
        return pd.DatetimeIndex(pd.to_datetime(x, unit=unit))
    zoned = raw.str.contains(_ZONE).to_numpy()
    if zoned.any() and not zoned.all():
        odd = np.flatnonzero(zoned != (zoned.sum() * 2 >= len(zoned)))      # the fewer kind
        junk = pd.to_datetime(raw.iloc[odd], format="mixed", errors="coerce").isna().to_numpy()
        if junk.any():
            j = int(odd[np.flatnonzero(junk)[0]])
            raise SpecError(f"timestamp: {raw.iloc[j]!r} on line {j + 2} is not a time"
                            + (f" ({int(junk.sum())} rows like it)" if junk.sum() > 1 else ""), where=where)
        i = int(np.flatnonzero(zoned != zoned[0])[0])
        raise SpecError(f"timestamp: line {i + 2} ({raw.iloc[i]!r}) {'has a' if zoned[i] else 'has no'} time zone and "
                        f"line 2 ({raw.iloc[0]!r}) {'has one' if zoned[0] else 'has none'}; write them all one way",
                        where=where)
    aware = bool(zoned.all())
    fits = [(f, p) for f in _formats(raw.iloc[0])
            if not (p := pd.to_datetime(raw, format=f, errors="coerce", utc=aware)).isna().any()]
    if fits:
        parsed = _pick_order(fits, raw.iloc[0], where, notes)
    else:
        parsed = pd.to_datetime(raw, format="mixed", errors="coerce", utc=aware)
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        raise SpecError(f"timestamp: {raw.iloc[bad[0]]!r} on line {bad[0] + 2} is not a time"
                        + (f" ({len(bad)} rows like it)" if len(bad) > 1 else ""), where=where,
                        hint="ISO 8601 (2024-03-01T10:00:00, with or without a zone) or epoch seconds")
    return pd.DatetimeIndex(parsed)


def _formats(first: str) -> list[str]:
    import warnings

    from pandas.tseries.api import guess_datetime_format

    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for dayfirst in (False, True):
            f = guess_datetime_format(first, dayfirst=dayfirst)
            if f and f not in out and not f.startswith("%Y-%d") and not f.startswith("%Y/%d"):
                out.append(f)
    return out


def _pick_order(fits, first: str, where: str, notes: list):
    if len(fits) == 1:
        f, p = fits[0]
        if f.startswith("%d"):
            notes.append(f"{where}: read as day/month (the only order every row fits)")
        return p

    def forward(p) -> tuple[int, int]:
        steps = np.diff(p.to_numpy().astype("datetime64[ns]").astype(np.int64))
        return int((steps >= 0).sum()), -len(np.unique(steps))

    ranked = sorted(fits, key=lambda fp: forward(fp[1]), reverse=True)
    if forward(ranked[0][1]) == forward(ranked[1][1]):
        notes.append(f"{where}: day and month are ambiguous in every row ({first!r}); read month first. "
                     "Write ISO 8601 (YYYY-MM-DD) to be sure")
        return fits[0][1]
    if ranked[0][0].startswith("%d"):
        notes.append(f"{where}: read as day/month (its rows run forward in time that way)")
    return ranked[0][1]


def read_timestamp_value(path, notes: list | None = None, note_negative: bool = False,
                         repeats: str = EVERY_ROW_SCORED) -> tuple[np.ndarray, pd.DatetimeIndex, np.ndarray, int]:
    """A ``timestamp,value`` CSV (column names in any case, a UTF-8 BOM allowed) as raw timestamp
    strings, parsed timestamps and float values, sorted by time (stable), and the number of values
    that are not numbers (kept as NaN: missing; ``inf`` counts). Raises ``SpecError`` naming the
    file, the line and the field for anything else; values that are not numbers, rows out of time
    order, repeated timestamps (``repeats``: what the caller does with them) and (``note_negative``)
    negative values are noted with a count and the first line; numbers written with thousands
    separators are read as numbers when unambiguous (:mod:`models.nab_values`, noted)."""
    from wasmops.errors import SpecError

    where, notes = str(path), notes if notes is not None else []
    try:
        df = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SpecError(f"not a timestamp,value CSV: {str(exc).splitlines()[0]}", where=where,
                        hint="comma-separated, UTF-8, a header line timestamp,value") from exc
    cols = {str(c).strip().lower(): c for c in df.columns}
    if "timestamp" not in cols or "value" not in cols:
        raise SpecError(f"needs the columns timestamp,value; found {', '.join(map(str, df.columns)) or 'none'}",
                        where=where, hint="a header line `timestamp,value` (comma-separated)")
    if df.empty:
        raise SpecError("no rows under the header", where=where)
    raw = df[cols["timestamp"]].str.strip()
    idx = parse_times(raw, where, notes)
    text = df[cols["value"]].str.strip()
    values, odd = parse_values(text, where, notes, note_negative)
    back = np.flatnonzero(np.diff(idx.asi8) < 0)
    if len(back):
        notes.append(f"{where}: rows are not in time order ({len(back)} step{'s' if len(back) > 1 else ''} back in time, the first on line "
                     f"{back[0] + 3}); read sorted by time")
    order = np.argsort(idx.asi8, kind="stable")   # NAB files are sorted already
    idx, values = idx[order], values[order]
    note_repeats(idx, values, where, notes, repeats)
    return raw.to_numpy()[order], idx, values, int(odd.sum())


def _utc(t: pd.Timestamp, aware: bool) -> np.datetime64:
    """A label time comparable with a series' index: zoned times in UTC; unzoned ones as UTC."""
    t = pd.Timestamp(t)
    if t.tzinfo is not None:
        t = t.tz_convert("UTC")
    elif aware:
        t = t.tz_localize("UTC")
    return np.datetime64(t.tz_localize(None) if t.tzinfo is not None else t)


def read_series(path, name: str, windows=(), notes: list | None = None) -> Series:
    notes = notes if notes is not None else []
    raw, ts, values, non_numeric = read_timestamp_value(path, notes)
    aware = ts.tz is not None
    zoned = [pd.Timestamp(t).tzinfo is not None for w in windows for t in w]
    if aware and not all(zoned):
        notes.append(f"{name}: its times carry zones and its labels do not; the labels are read as UTC")
    elif not aware and any(zoned):
        notes.append(f"{name}: its labels carry zones and its times do not; its times are read as UTC")
    keys = ts.tz_convert("UTC").tz_localize(None).values if aware else ts.values
    s = Series(name, ts, raw, values, [], non_numeric)
    s.windows = sorted(_window_rows(s, keys, windows, aware, notes))
    return s


def _window_rows(s: Series, keys: np.ndarray, windows, aware: bool, notes: list) -> list[tuple[int, int]]:
    """Row ranges of the windows that can be scored; a note for each one dropped, saying why."""
    rows = []
    for start, end in windows:
        lo = int(np.searchsorted(keys, _utc(start, aware), side="left"))
        hi = int(np.searchsorted(keys, _utc(end, aware), side="right")) - 1
        span = f"{s.name}: labelled window {start} .. {end}"
        if hi < lo:
            where = ("outside the series' time range" if lo in (0, len(keys))
                     else "between two rows (no row inside it)")
            notes.append(f"{span} is {where} ({s.ts[0]} .. {s.ts[-1]}); not scored")
        elif hi < s.n_train:
            notes.append(f"{span} ends in the training part (the first 15 %, rows up to {s.ts[s.n_train - 1]}), "
                         "where nothing is scored; dropped")
        else:
            rows.append((lo, hi))
    return rows


SCORES_HEADER = ["file", "timestamp", "value", "score", "alarm"]   # what ``wasmops models benchmark --out`` writes


def load_corpus(data_dir, labels_path=None, notes: list | None = None, exclude=None) -> list[Series]:
    """All series under ``data_dir`` with their windows from NAB's ``combined_windows.json``. The
    file ``exclude`` (the benchmark's own --out) and files with the benchmark's scores header are
    not series: they are skipped (noted)."""
    notes = notes if notes is not None else []
    labels = read_labels(labels_path, notes) if labels_path else {}
    root = Path(data_dir)
    skip = os.path.realpath(exclude) if exclude is not None else None
    out = []
    for p in find_csvs(root, notes):
        name = p.relative_to(root).as_posix()
        if os.path.realpath(p) == skip:
            notes.append(f"{name}: the --out file; not read as a series")
        elif _header(p) == SCORES_HEADER:
            notes.append(f"{name}: a benchmark scores file ({','.join(SCORES_HEADER)}); not read as a series")
        elif name not in labels and not {"timestamp", "value"} <= set(_header(p)):
            notes.append(f"{name}: no timestamp,value header (its first line: {','.join(_header(p))[:60]!r}) and no "
                         "label names it; not read as a series")
        else:
            out.append(read_series(p, name, labels.get(name, []), notes))
    _note_unmatched(labels, labels_path, root, [s.name for s in out], notes)
    return out


#: Up to this many absent labelled series are named one per line; more get one summary line.
MAX_ABSENT_NAMED = 5


def _note_unmatched(labels: dict, labels_path, root: Path, names: list[str], notes: list) -> None:
    """A note per labelled series that is absent; one note (with where to point instead, when the
    labels' paths fit one directory up or down) when none is present."""
    unmatched = sorted(set(labels) - set(names))
    if not unmatched:
        return
    if len(unmatched) < len(labels):
        if len(unmatched) <= MAX_ABSENT_NAMED:
            notes.extend(f"{labels_path}: {n}: labelled but not under {root}; its windows are not scored"
                         for n in unmatched)
        else:   # a subset of NAB: one line, not one per absent series (56 for two series)
            notes.append(f"{labels_path}: {len(unmatched)} labelled series are not under {root}; their windows are "
                         f"not scored (e.g. {', '.join(unmatched[:3])}, ...)")
        return
    up = [f"{root.name}/{n}" for n in names if f"{root.name}/{n}" in labels]
    down = [n for n in names if "/" in n and n.split("/", 1)[1] in labels]
    if not (up or down):
        notes.append(f"{labels_path}: none of its {len(labels)} entries names a series under {root} "
                     f"(e.g. {unmatched[0]!r}; names are paths relative to it, like 'realTweets/x.csv')")
        return
    better = root.parent if up else root / down[0].split("/", 1)[0]
    example = up[0] if up else down[0].split("/", 1)[1]
    notes.append(f"{labels_path}: none of its {len(labels)} entries names a series under {root}, but "
                 f"{len(up or down)} name series relative to {better} (e.g. {example!r}); give {better} as DATA_DIR")


def _header(path) -> list[str]:
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            return [c.strip().strip('"').strip().lower() for c in fh.readline().split(",")]
    except OSError:
        return []          # read_series will name the problem


def read_labels(path, notes: list | None = None) -> dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]]:
    """NAB's ``combined_windows.json``: ``{"category/file.csv": [[start, end], ...]}``, overlapping or
    repeated windows of a series merged (noted). Raises ``SpecError`` naming the file and the entry
    for anything else."""
    from wasmops.errors import SpecError

    where, notes = str(path), notes if notes is not None else []
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpecError(f"not a JSON labels file: {exc}", where=where) from exc
    if not isinstance(doc, dict):
        raise SpecError(f"expected an object {{\"category/file.csv\": [[start, end], ...]}}, got {type(doc).__name__}",
                        where=where)
    out = {}
    for name, wins in doc.items():
        if not isinstance(wins, list):
            raise SpecError(f"{name}: expected a list of [start, end] windows", where=where)
        out[name] = _merged(name, [_window(name, i, w, where) for i, w in enumerate(wins)], where, notes)
    return out


def _window(name: str, i: int, w, where: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    from wasmops.errors import SpecError

    if not (isinstance(w, list) and len(w) == 2):
        raise SpecError(f"{name}[{i}]: expected [start, end], got {w!r}", where=where, hint=(
            "this looks like NAB's combined_labels.json (anomaly points); give combined_windows.json"
            if isinstance(w, str) else None))
    if not all(isinstance(t, str) for t in w):
        raise SpecError(f"{name}[{i}]: times must be strings like the data's timestamps, got {w!r}", where=where,
                        hint='e.g. ["2014-02-19 10:50:00", "2014-02-20 03:30:00"]')
    try:
        start, end = _label_time(w[0]), _label_time(w[1])
    except (ValueError, TypeError) as exc:
        raise SpecError(f"{name}[{i}]: not a time: {exc}", where=where) from exc
    if pd.isna(start) or pd.isna(end):
        raise SpecError(f"{name}[{i}]: not a time: {w!r}", where=where)
    if (start.tzinfo is None) != (end.tzinfo is None):
        raise SpecError(f"{name}[{i}]: one end has a time zone and the other not: {w!r}", where=where)
    if end < start:
        raise SpecError(f"{name}[{i}]: ends before it starts ({w[1]} < {w[0]})", where=where)
    return start, end


def _label_time(t: str) -> pd.Timestamp:
    """A label's time: as the data's are read, so epoch seconds (milliseconds from 10^11) too."""
    if _EPOCH.fullmatch(t.strip()):
        x = float(t)
        return pd.Timestamp(x, unit="ms" if x >= 1e11 else "s")
    return pd.Timestamp(t)


def _merged(name: str, wins: list, where: str, notes: list) -> list:
    try:
        wins = sorted(wins)
    except TypeError:             # zoned and unzoned windows of one series: compare them in UTC
        wins = sorted(wins, key=lambda w: _utc(w[0], True))
    out = []
    for s, e in wins:
        if out and _utc(s, True) <= _utc(out[-1][1], True):
            out[-1] = (out[-1][0], max(out[-1][1], e, key=lambda t: _utc(t, True)))
        else:
            out.append((s, e))
    if len(out) < len(wins):
        notes.append(f"{where}: {name}: {len(wins) - len(out)} overlapping or repeated windows merged "
                     "(NAB counts each window once)")
    return out
