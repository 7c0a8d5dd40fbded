"""spec.rollout: the schema (errors name the field) and the canary split the reconciler plans."""

from __future__ import annotations

import pytest

from wasmops.errors import SpecError
from wasmops.gitops.manifest import WasmModuleDeployment, load_document
from wasmops.schemas import json_schemas
from wasmops.gitops.rollout import canary_split, parse_duration

D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def _doc(rollout: dict | None = None, digest: str | None = D2) -> dict:
    spec = {"moduleRef": {"repository": "w", "tag": "v2", **({"digest": digest} if digest else {})}}
    if rollout is not None:
        spec["rollout"] = rollout
    return {"apiVersion": "wasmops.dev/v1alpha1", "kind": "WasmModuleDeployment",
            "metadata": {"name": "w", "namespace": "dev", "labels": {"team": "t", "project": "p"}}, "spec": spec}


def _load(tmp_path, rollout) -> WasmModuleDeployment:
    import yaml

    p = tmp_path / "w.yaml"
    p.write_text(yaml.safe_dump(_doc(rollout)))
    return load_document(p)


def test_canary_steps_parse_and_replace_is_the_default(tmp_path):
    m = _load(tmp_path, {"strategy": "canary", "steps": [{"weight": 10, "pause": "2m"}, {"weight": 50, "pause": "5m"},
                                                          {"weight": 100}]})
    assert [(s.weight, s.pause_seconds) for s in m.spec.rollout.steps] == [(10, 120.0), (50, 300.0), (100, 0.0)]
    assert _load(tmp_path, None).spec.rollout.strategy == "replace"
    assert "rollout" in json_schemas()["WasmModuleDeployment"]["$defs"]["DeploymentSpec"]["properties"]
    assert parse_duration("500ms") == 0.5 and parse_duration("1h") == 3600


@pytest.mark.parametrize("steps,where", [
    ([{"weight": 50}, {"weight": 10}, {"weight": 100}], "spec.rollout.steps: steps[1].weight: 10 must be greater"),
    ([{"weight": 10}, {"weight": 50}], "spec.rollout.steps: steps[1].weight: the last step must be 100"),
    ([{"weight": 10}, {"weight": 10}, {"weight": 100}], "steps[1].weight: 10 must be greater than steps[0].weight"),
    ([{"weight": 0}, {"weight": 100}], "spec.rollout.steps.0.weight: Input should be greater than or equal to 1"),
    ([{"weight": 10}, {"weight": 101}], "spec.rollout.steps.1.weight: Input should be less than or equal to 100"),
    ([{"weight": 10, "pause": "2 minutes"}, {"weight": 100}], "spec.rollout.steps.0.pause: String should match"),
    ([{"weight": 10, "wait": "2m"}, {"weight": 100}], "spec.rollout.steps.0.wait: Extra inputs"),
    ([], "spec.rollout: steps: strategy canary needs at least one step"),
    ("10,50,100", "spec.rollout.steps: Input should be a valid list"),
])
def test_malformed_steps_are_a_spec_error_naming_the_field(tmp_path, steps, where):
    with pytest.raises(SpecError) as ei:
        _load(tmp_path, {"strategy": "canary", "steps": steps})
    assert where in str(ei.value) and "w.yaml" in str(ei.value)


def test_split_from_in_progress_record():
    prog = {"stable": {"tag": "v1", "digest": D1}, "step": 1, "weight": 50}
    m = WasmModuleDeployment.model_validate(_doc({"strategy": "canary", "steps": [{"weight": 100}], "inProgress": prog}))
    s = canary_split(m)
    assert (s.stable_digest, s.canary_digest, s.weight, s.step) == (D1, D2, 50, 1)
    assert canary_split(m, {D2}) is None                      # a quarantined canary: stable only
    stale = WasmModuleDeployment.model_validate(_doc({"inProgress": prog}, digest=D1))
    assert canary_split(stale) is None                        # reverted: moduleRef is the stable digest again
