"""The release judge probes what the deployment runs, and compares like with like.

Found from outside (a user's own modules, 2026-12-07):

* a deployment with ``env: {CSVSUM_SEP: ";"}`` was probed with the cases that set *no* env (each
  run under ";" though written for ","), so every probe failed and a one-word stderr change was
  rolled back on ``error_rate``; the probes are now the cases verify runs (the deployment's env);
* a new version that accepts an input the old one refused (exit 2 at once) was rolled back on
  ``fuel_per_call``: the refused run's fuel was paired with the served run's. A slot whose two runs
  ended differently now compares only their outcome (``error_rate``), not their cost.

The modules and manifests here are written in the test; none is an example of the project.
"""

from __future__ import annotations

import math

import httpx
import wasmtime

from support.wasi_wat import first_byte_wat
from wasmops.ai.release_check import default_policy, judge_samples, sample_requests
from wasmops.release.steps import probe_bodies
from wasmops.supply.source import ModuleSource, TestCase

LIMITS = {"fuel": 50_000_000, "memory": "1Mi", "timeout_ms": 1000, "max_stdout": "4Ki"}


def _src(tmp_path, cases) -> ModuleSource:
    return ModuleSource(name="sep", language="wat", sources=["m.wat"], root=tmp_path, tests=cases)


def test_probes_are_the_cases_the_deployment_env_runs(tmp_path):
    src = _src(tmp_path, [TestCase(name="comma", stdin="1,2"),
                          TestCase(name="semi", stdin="1;2", env={"SEP": ";"}),
                          TestCase(name="semi-bad", stdin="x;2", env={"SEP": ";"}, expect_exit=3),
                          TestCase(name="tab", stdin="1\t2", env={"SEP": "\t"})])
    assert probe_bodies(src) == [b"1,2"]
    semi = probe_bodies(src, {"SEP": ";"})
    assert semi == [b"1;2", b"x;2"] and [p.expect for p in semi] == [None, "exit=3"]
    # no case runs under this env: the placeholder body, as for a module without cases
    assert probe_bodies(src, {"SEP": "|"}) == [b"{}"]


def _wat(serves_big: bool, tag: str) -> str:
    """Written here: input 'b...' is 'big'. The old version refuses it at once (exit 2); the new one
    spins 200k loops and exits 0. Any other input spins 3k loops and exits 0 in both."""
    big = "(call $spin (i32.const 200000))" if serves_big else "(call $exit (i32.const 2))"
    return first_byte_wat(tag, ord("b"), big, "(call $spin (i32.const 3000))")


def _sample(host, workspace, wat: str, bodies) -> dict:
    ref, digest = workspace.publish_wasm("grower", wasmtime.wat2wasm(wat))
    host.deploy("dev", "grower", ref=ref, digest=digest, limits=LIMITS, labels={"team": "qa", "project": "judge"})
    return sample_requests(host, "dev", "grower", bodies, 40, expect_digest=digest)


def test_an_input_the_old_version_refused_is_not_a_cost_regression(host, workspace, tmp_path):
    bodies = probe_bodies(_src(tmp_path, [TestCase(name="small", stdin="a"), TestCase(name="big", stdin="b")]))
    old = _sample(host, workspace, _wat(False, "v1"), bodies)
    new = _sample(host, workspace, _wat(True, "v2"), bodies)
    assert old["error_rate"][1::2] == [1.0] * 20 and new["error_rate"] == [0.0] * 40
    v = judge_samples(old, new, default_policy())
    assert v.verdict != "fail", v.explanation
    fuel = next(r for r in v.metrics if r.metric == "fuel_per_call")
    assert fuel.n_canary == 20 and fuel.classification == "Pass", v.to_rows()   # the 'a' slots only
    # the other way round it is a regression: the new version refuses what the old one served
    back = judge_samples(new, _sample(host, workspace, _wat(False, "v3"), bodies), default_policy())
    assert back.verdict == "fail" and back.failed == ["error_rate"], back.explanation


def test_a_version_that_refuses_an_input_on_purpose_is_not_rolled_back(host, workspace, tmp_path):
    """Found from outside (fourth round): v2 of an AssemblyScript module throws on an input v1 served,
    with a case saying so (``expect_error: trap``); the judge counted the expected failure as an error
    (``error_rate 0.4 vs 0.2``) and rolled the release back. Here the refusal is ``exit 2`` and the case
    says ``expect_exit: 2``: a run that ends as its case says is no error, on either side."""
    bodies = probe_bodies(_src(tmp_path, [TestCase(name="small", stdin="a"),
                                          TestCase(name="big-refused", stdin="b", expect_exit=2)]))
    assert [p.expect for p in bodies] == [None, "exit=2"]
    old = _sample(host, workspace, _wat(True, "v1"), bodies)      # serves 'b'
    new = _sample(host, workspace, _wat(False, "v2"), bodies)     # refuses 'b', as the case says
    assert new["error_rate"] == [0.0] * 40
    assert old["error_rate"][0::2] == [0.0] * 20 and old["error_rate"][1::2] == [1.0] * 20   # not as the case says
    v = judge_samples(old, new, default_policy())
    assert v.verdict != "fail", v.explanation
    fuel = next(r for r in v.metrics if r.metric == "fuel_per_call")
    assert fuel.n_canary == 20, v.to_rows()                       # the 'b' slots ended unlike: cost uncompared
    # a version that refuses the input its case says it serves still fails on error_rate
    bad = first_byte_wat("v3", ord("b"), "(call $exit (i32.const 2))", "(call $exit (i32.const 2))")
    worse = judge_samples(new, _sample(host, workspace, bad, bodies), default_policy())
    assert worse.verdict == "fail" and worse.failed == ["error_rate"], worse.explanation


class _Outcomes:
    """A scripted host: body ``b"ok"`` exits 0 with fuel 1000; ``b"new"`` exits 0 with ``new_fuel``,
    or, when ``refuses`` it, exits 2 with fuel 50."""

    def __init__(self, refuses: bool, new_fuel: int = 900_000):
        self.refuses, self.new_fuel = refuses, new_fuel

    def run(self, namespace, name, body, **kw):
        code, fuel = ("2", 50) if body == b"new" and self.refuses else ("0", self.new_fuel if body == b"new" else 1000)
        return httpx.Response(200 if code == "0" else 502, content=b"", headers={
            "x-wasmops-exit-code": code, "x-wasmops-fuel": str(fuel), "x-wasmops-memory": "65536",
            "x-wasmops-duration-ms": "1.0", "x-wasmops-digest": "sha256:d",
            **({"x-wasmops-error": "exit_nonzero"} if code != "0" else {})})


def test_every_slot_ending_differently_leaves_the_cost_uncompared(tmp_path):
    """The deployment env changed so that the old digest (under its old env) refuses every probe:
    nothing of its cost pairs with the new one's, and the release is not failed on cost."""
    old = sample_requests(_Outcomes(refuses=True), "dev", "m", [b"new"], 40, expect_digest="sha256:d", concurrency=1)
    new = sample_requests(_Outcomes(refuses=False), "dev", "m", [b"new"], 40, expect_digest="sha256:d", concurrency=1)
    v = judge_samples(old, new, default_policy())
    assert v.verdict != "fail", v.explanation
    assert all(r.classification == "NoData" for r in v.metrics if r.metric != "error_rate"), v.to_rows()
    assert all(math.isnan(x) for x in old["fuel_per_call"]) is False    # the samples themselves are kept


def test_a_fail_is_explained_by_the_critical_metric_that_failed_it():
    """Found from outside: a prod rollback read 'release judge fail: latency_ms ... (+313%)' with
    fuel_per_call (+248%) as 'also regressed', though latency alone cannot fail a release."""
    import numpy as np

    rng = np.random.default_rng(3)
    fuel = rng.lognormal(12, 0.3, 60)
    lat = rng.lognormal(1, 0.2, 60)
    base = {"fuel_per_call": list(fuel), "latency_ms": list(lat), "error_rate": [0.0] * 60}
    can = {"fuel_per_call": list(fuel * 3.5), "latency_ms": list(lat * 4.2), "error_rate": [0.0] * 60}
    v = judge_samples(base, can, default_policy())
    assert v.verdict == "fail" and set(v.failed) >= {"fuel_per_call"}, v.explanation
    assert v.explanation.startswith("fuel_per_call "), v.explanation
    assert "also regressed: latency_ms" in v.explanation, v.explanation


def test_the_release_reads_the_probes_env_from_the_targets_manifest_in_git(tmp_path):
    import subprocess

    import yaml

    from wasmops.config import Settings
    from wasmops.release.verify import target_probes
    from wasmops.workspace import init_workspace

    s = Settings(home=tmp_path / "ws")
    init_workspace(s)
    f = s.gitops_dir / "modules/dev/sum-wat.yaml"
    doc = yaml.safe_load(f.read_text())
    doc["spec"].setdefault("runtimeConfig", {})["env"] = {"SEP": ";"}
    f.write_text(yaml.safe_dump(doc))
    subprocess.run(["git", "-C", str(s.gitops_dir), "-c", "user.name=t", "-c", "user.email=t@example.com",
                    "commit", "-qam", "env"], check=True)
    src = _src(tmp_path, [TestCase(name="comma", stdin="1,2"), TestCase(name="semi", stdin="1;2", env={"SEP": ";"})])
    assert target_probes(s, src, "dev/sum-wat") == [b"1;2"]
    assert target_probes(s, src, "dev/not-there") == [b"1,2"]
    assert target_probes(Settings(home=tmp_path / "none"), src, "dev/sum-wat") == [b"1,2"]   # no GitOps repo


class _Versioned:
    """A scripted host: every run exits 0 and prints its version; the new one costs 4x the fuel."""

    def __init__(self, version: bytes, fuel: int):
        self.version, self.fuel = version, fuel

    def run(self, namespace, name, body, **kw):
        return httpx.Response(200, content=self.version, headers={
            "x-wasmops-exit-code": "0", "x-wasmops-fuel": str(self.fuel), "x-wasmops-memory": "65536",
            "x-wasmops-duration-ms": "1.0", "x-wasmops-digest": "sha256:d"})


def test_a_regression_behind_a_changed_output_is_still_compared_on_cost(tmp_path):
    """Why slots are told apart by how the runs ended (exit code, trap) and not by the case's expected
    stdout: a case that expects the new version's output (a version string, a new format) fails on
    the old one, and pairing by it would leave every slot's cost uncompared, so a 4x regression was
    held instead of rolled back (a fleet release test caught that variant, 2026-12-07)."""
    bodies = probe_bodies(_src(tmp_path, [TestCase(name="v", stdin="x", expect_stdout="v2")]))
    old = sample_requests(_Versioned(b"v1", 1000), "dev", "m", bodies, 30, expect_digest="sha256:d", concurrency=1)
    new = sample_requests(_Versioned(b"v2", 4000), "dev", "m", bodies, 30, expect_digest="sha256:d", concurrency=1)
    v = judge_samples(old, new, default_policy())
    assert v.verdict == "fail" and "fuel_per_call" in v.failed, v.explanation
