"""Policy in Git caps timeoutMs and cpu (fuel) per trust level, for the release's policy step and
for host admission alike."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st
import wasmtime
import yaml

from wasmops.supply.policy import check_module, load_policy

OK = '(module (memory (export "memory") 1) (func (export "_start")))'


def _policy(tmp_path, **caps):
    doc = yaml.safe_load(load_policy().model_dump_json(by_alias=True, exclude={"source"}))
    doc["spec"]["trustLevels"]["sandboxed"].update(caps)
    p = tmp_path / "policy.yaml"
    p.write_text(yaml.safe_dump(doc))
    return load_policy(p)


def test_caps_deny_with_the_reason(tmp_path):
    pol = _policy(tmp_path, maxTimeoutMs=1000, maxCpu="100m")
    wasm = wasmtime.wat2wasm(OK)
    assert check_module(wasm, "sandboxed", pol, timeout_ms=1000, fuel=100_000_000).allowed
    v = check_module(wasm, "sandboxed", pol, timeout_ms=1001, fuel=100_000_001)
    assert not v.allowed and any("timeoutMs 1001 exceeds 1000" in r for r in v.reasons)
    assert any("exceeds 100m" in r for r in v.reasons)
    assert check_module(wasm, "standard", pol, timeout_ms=10**6, fuel=10**15).allowed is False  # 30 s cap
    with pytest.raises(Exception, match="maxCpu"):
        _policy(tmp_path, maxCpu="lots")


def test_host_admission_follows_the_caps_in_git(host, workspace):
    path = workspace.settings.gitops_dir / "policies" / "module-policy.yaml"
    original = path.read_text()
    doc = yaml.safe_load(original)
    doc["spec"]["trustLevels"]["sandboxed"]["maxCpu"] = "100m"
    ref, digest = workspace.publish_wat("capped", OK)
    path.write_text(yaml.safe_dump(doc))
    try:
        with pytest.raises(Exception, match="exceeds 100m"):
            host.deploy("dev", "capped", ref=ref, digest=digest, limits={"fuel": 200_000_000})
        with pytest.raises(Exception, match="timeoutMs 60000 exceeds 10000"):
            host.deploy("dev", "capped", ref=ref, digest=digest, limits={"fuel": 1_000_000, "timeout_ms": 60_000})
        assert host.deploy("dev", "capped", ref=ref, digest=digest, limits={"fuel": 50_000_000})["changed"]
    finally:
        path.write_text(original)


@settings(max_examples=40, deadline=None)
@given(level=st.sampled_from(["sandboxed", "standard", "trusted"]), mib=st.integers(1, 2048))
def test_max_stdout_is_capped_per_trust_level_as_shipped(level, mib):
    """A deployment asking for a larger response than its trust level allows is denied (the host holds a
    response in memory: maxStdout 512Mi at sandboxed once took a worker to ~1 GB)."""
    cap = {"sandboxed": 16, "standard": 64, "trusted": 256}[level]
    v = check_module(wasmtime.wat2wasm(OK), level, load_policy(), max_stdout=mib * 2**20)
    assert v.allowed == (mib <= cap)
    from wasmops.units import format_size

    want = f"maxStdout {format_size(mib * 2**20)} exceeds {format_size(cap * 2**20)} for {level}"
    assert v.allowed or any(want in r for r in v.reasons), v.reasons


def test_host_refuses_a_deploy_over_the_stdout_cap_and_an_unknown_field(host, workspace):
    ref, digest = workspace.publish_wat("stdout-capped", OK)
    with pytest.raises(Exception, match="maxStdout 100Gi exceeds 16Mi for sandboxed"):
        host.deploy("dev", "stdout-capped", ref=ref, digest=digest, limits={"max_stdout": "100Gi"})
    with pytest.raises(Exception, match="limitz"):        # a typo must not deploy with default limits
        host.deploy("dev", "stdout-capped", ref=ref, digest=digest, limitz={"fuel": 1})
    assert host.deploy("dev", "stdout-capped", ref=ref, digest=digest, limits={"max_stdout": "16Mi"})["changed"]
