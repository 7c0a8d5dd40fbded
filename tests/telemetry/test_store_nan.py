"""A sample with no value (NaN) in a number column is quarantined with the column named, not lost.

Before: ``samples``' columns are NOT NULL and the insert is ``INSERT OR IGNORE``, which ignores a NOT
NULL violation as well: ``append`` of 5 rows, one with a NaN p95 latency, stored 4 and nothing
anywhere said which row went or why. Which rows and columns have no value, and whether a row is
also stamped in the future, are drawn by hypothesis over real operations data (NAB series)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.nab_telemetry import nab_modules
from wasmops.telemetry import Store, schema

NOW = pd.Timestamp("2026-12-07T12:00Z")
ROWS = nab_modules(NOW).iloc[::50].reset_index(drop=True)       # 242 rows over 14 days, 3 modules


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=st.dictionaries(st.integers(0, len(ROWS) - 1), st.sets(st.sampled_from(schema.FLOAT_COLUMNS), min_size=1),
                           min_size=1, max_size=6),
       future=st.sets(st.integers(0, len(ROWS) - 1), max_size=3))
def test_a_row_with_no_value_is_quarantined_naming_the_columns(tmp_path_factory, bad, future):
    df = ROWS.copy()
    for i, cols in bad.items():
        df.loc[i, sorted(cols)] = np.nan
    for i in future:
        df.loc[i, "ts"] = NOW + pd.Timedelta(days=1, minutes=i)
    store = Store(tmp_path_factory.mktemp("s") / "telemetry.db")
    out = set(bad) | future
    assert store.append(df, now=NOW) == len(df) - len(out) == store.count()      # stored + quarantined = all
    q = store.quarantined()
    assert len(q) == len(out)
    for i in out:
        [reason] = q.loc[(q["module"] == df.loc[i, "module"]) & (q["ts"] == df.loc[i, "ts"]), "reason"]
        cols = sorted(bad.get(i, ()), key=schema.FLOAT_COLUMNS.index)
        if cols:
            assert f"{', '.join(cols)} {'is' if len(cols) == 1 else 'are'} NaN (no value)" in reason, reason
        assert ("ahead of the store's clock" in reason) == (i in future), reason
