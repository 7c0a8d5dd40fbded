"""The scheduled flows' parameters are checked where an operator types them (a deployment's custom run
in the Prefect UI, ``prefect deployment run -p``): Prefect validates them against the flow's
signature before the run starts, and the deployment's schema carries the bounds the UI's form shows."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st
from prefect.exceptions import ParameterTypeError
from prefect.utilities.callables import parameter_schema

from flows.collect_telemetry import collect_telemetry
from flows.finops import finops_report
from flows.score import score
from flows.train_models import train_models

BOUNDED = [(score, "window_minutes"), (score, "min_windows"), (score, "freshness_minutes"),
           (train_models, "days"), (train_models, "holdout_days"), (train_models, "modules"),
           (collect_telemetry, "scrapes"), (finops_report, "days")]


@pytest.mark.parametrize("flow_, name", BOUNDED)
@settings(max_examples=15)
@given(bad=st.integers(max_value=0))
def test_a_count_under_one_is_refused_naming_the_parameter(flow_, name, bad):
    with pytest.raises(ParameterTypeError, match=name):
        flow_.validate_parameters({name: bad})


@pytest.mark.parametrize("flow_, name", BOUNDED)
@settings(max_examples=15)
@given(good=st.integers(min_value=1, max_value=10**6))
def test_a_positive_count_passes(flow_, name, good):
    assert flow_.validate_parameters({name: good})[name] == good


def test_the_deployment_schema_carries_the_bounds():
    props = parameter_schema(score).model_dump()["properties"]
    assert props["window_minutes"]["minimum"] == 1
    assert props["window_minutes"]["default"] == 60


@given(by=st.text(min_size=1, max_size=12).filter(lambda s: s not in ("team", "project", "cost_center",
                                                                       "namespace", "module", "digest")))
def test_finops_report_by_is_one_of_the_report_keys(by):
    with pytest.raises(ParameterTypeError, match="by"):
        finops_report.validate_parameters({"by": by})


def test_score_freshness_may_be_none():
    assert score.validate_parameters({"freshness_minutes": None})["freshness_minutes"] is None
