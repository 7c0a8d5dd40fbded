"""The reconcile summary counts modules that drifted, as the drift heading above it does (found from
outside: "drift detected in 2 modules" then "drift in 5": one Drift per changed field)."""

from __future__ import annotations

from hypothesis import given, strategies as st

from wasmops.gitops.plan import Drift, Plan
from wasmops.gitops.report import ReconcileReport

KEYS = st.sampled_from(["dev/a", "dev/b", "prod/a", "qa/x-y"])
FIELDS = st.sampled_from(["digest", "env", "memory", "fuel", "module", "canary"])


@given(st.lists(st.tuples(KEYS, FIELDS), min_size=1, max_size=12))
def test_summary_counts_modules_not_fields(pairs):
    rep = ReconcileReport(plan=Plan([]), drift=[Drift(k, f, 1, 2) for k, f in pairs])
    n = len({k for k, _ in pairs})
    assert f"drift in {n} module{'s' * (n != 1)}" in rep.summary()
