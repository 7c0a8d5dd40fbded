"""An anomaly model trained before baselines were keyed by namespace (2026-12-06, 844a376) keeps its
baselines after an upgrade.

Found upgrading a workspace from 2026-11-27 (outside-in): its champion keyed baselines by module
name (``mod-000``), today's code looked up ``prod/mod-000``, so `score` held every module with a
false reason ("no baseline ... less than the minimum history at training", after 16 days of it),
`models audit` left every team out, and the scaler silently fell back to the global baseline."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from models.anomaly import AnomalyModel
from models.audit import without_baseline
from wasmops.ai.verdicts import judge
from wasmops.telemetry import synthesize
from wasmops.telemetry.validate import validate

NOW = pd.Timestamp("2026-12-07T10:00Z")


@pytest.fixture(scope="module")
def data():
    hist = synthesize(modules=3, days=12, seed=11, anomaly_rate=0.02, end=NOW)
    hist = hist.drop(columns=["is_anomaly", "anomaly_kind"])
    train, window = hist[hist["ts"] <= NOW - pd.Timedelta(hours=12)], hist[hist["ts"] > NOW - pd.Timedelta(hours=12)]
    model = AnomalyModel().fit(train)
    legacy = copy.deepcopy(model)            # what a model pickled before 844a376 holds: bare module names
    legacy.scaler_.modules_ = np.asarray([k.split("/", 1)[1] for k in model.scaler_.modules_], dtype=str)
    return model, legacy, window.reset_index(drop=True)


def test_an_old_models_baselines_are_found_by_module_name(data):
    model, legacy, window = data
    assert all("/" not in k for k in legacy.scaler_.modules_) and len(legacy.scaler_.modules_) == 3
    assert np.array_equal(legacy.scaler_.transform(window), model.scaler_.transform(window))
    out = validate(window, freshness_minutes=None, now=NOW)
    now = {(v.subject, v.verdict, v.explanation) for v in judge(window, out, model, {"version": "2"})}
    old = {(v.subject, v.verdict, v.explanation) for v in judge(window, out, legacy, {"version": "2"})}
    assert old == now and not any("no baseline" in e for _, _, e in old)


def test_audit_keeps_an_old_models_modules(data):
    _, legacy, window = data
    kept, notes = without_baseline(window, legacy)
    assert len(kept) == len(window) and notes == []


def test_a_module_the_old_model_never_saw_is_still_held(data):
    _, legacy, window = data
    other = window[window["module"] == window["module"].iloc[0]].assign(module="mod-new")
    out = validate(other, freshness_minutes=None, now=NOW)
    (v,) = judge(other, out, legacy, {"version": "2"})
    assert v.verdict == "hold" and "no baseline for prod/mod-new" in v.explanation
