"""Caveats for benchmark figures a corpus cannot support (``wasmops models benchmark`` prints them
as notes beside the table): a series with no number, a constant one (nothing to alarm on), one too
short for the detector to score, one with too few scored rows outside its windows for a 2 %
false-alarm threshold, and a pooled PR-AUC that is 1 by construction because no scored row lies
outside a window. The metrics are unchanged."""

from __future__ import annotations

import math

import numpy as np

from models.nab_io import Series

FAR = 0.02   # models.nab_eval.caught_at_far's default


def caveats(corpus: list[Series], min_history: int) -> list[str]:
    """One line per figure that says little, naming the series (``min_history``: the detector's
    rows of history before it scores at all)."""
    out = []
    negatives = 0
    for s in corpus:
        scored = len(s.values) - s.n_train
        neg = int((~s.in_window()[s.n_train:]).sum())
        negatives += neg
        if not np.isfinite(s.values).any():
            out.append(f"{s.name}: none of its {len(s.values)} values is a number; every detector sees nothing "
                       "there, so its windows are missed or caught by chance")
        elif _constant(s.values):
            v = s.values[np.isfinite(s.values)][0]
            out.append(f"{s.name}: every value is {v:g} (constant): no detector can alarm on it (each scores all of "
                       "its rows alike), so its windows are missed and its rows rank nothing in the pooled PR-AUC")
        elif s.n_train < min_history:
            out.append(f"{s.name}: {len(s.values)} rows, {s.n_train} of them training (the first 15 %), and the "
                       f"detector needs {min_history} rows of history before it scores: its figures say little")
        if s.windows and scored and math.floor(FAR * neg) == 0:
            out.append(f"{s.name}: {neg} scored rows outside its windows, fewer than {math.ceil(1 / FAR)}: no "
                       "threshold keeps false alarms at 2 %, so none of its windows counts as caught")
    if corpus and any(s.windows for s in corpus) and negatives == 0:
        out.append("every scored row is inside a labelled window: the pooled PR-AUC is 1 whatever the scores")
    return out


def _constant(values: np.ndarray) -> bool:
    """Every number the same (missing values aside): nothing for a detector to see."""
    finite = values[np.isfinite(values)]
    return len(finite) > 1 and bool((finite == finite[0]).all())
