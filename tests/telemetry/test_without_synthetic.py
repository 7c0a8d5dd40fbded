"""Costs and budgets count real traffic only: synthetic series in the store are left out."""

import pandas as pd

from wasmops.config import Settings
from wasmops.telemetry import Store, synthesize


def test_synthetic_series_are_left_out_of_cost_inputs(tmp_path):
    store = Store.open(Settings(home=tmp_path))
    end = pd.Timestamp.now(tz="UTC").floor("h")
    synth = synthesize(modules=3, days=1, seed=2, end=end)               # carries the synthesizer's labels
    real = synthesize(modules=2, days=1, seed=3, end=end, namespace="dev")
    real = real.drop(columns=["is_anomaly", "anomaly_kind"])               # as a scrape would write it
    store.append(synth)
    store.append(real)
    everything = store.read()
    kept = store.without_synthetic(everything)
    assert set(kept["namespace"]) == {"dev"} and len(kept) == len(real)
    assert len(everything) == len(real) + len(synth)
