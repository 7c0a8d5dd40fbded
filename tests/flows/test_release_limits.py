"""The release's test step runs the cases under the deployment's limits, as verify will through the host.

module.yaml allowed 200 M fuel, the manifest 50 M (cpu 50m); a case using ~80 M passed the test step,
then failed verify out of fuel: the release was rolled back and its digest quarantined. Now it stops
at the test step, naming the manifest's limit, with nothing committed or quarantined. The module is
written here (a spin loop of about 8 fuel an iteration).
"""

from __future__ import annotations

import git
import pytest
import yaml

from support.gitops_helpers import add_manifest
from support.wat import spinner_wat


def test_a_case_over_the_deployments_fuel_fails_the_test_step_not_verify(flow_env, tmp_path):
    from flows.release import release
    from wasmops.errors import TestFailed

    ws, host, _ = flow_env
    mod = tmp_path / "greedy"
    mod.mkdir()
    (mod / "spin.wat").write_text(spinner_wat(10_000_000))                    # ~80 M fuel
    (mod / "module.yaml").write_text(yaml.safe_dump({
        "name": "greedy", "language": "wat", "sources": ["spin.wat"],
        "limits": {"fuel": 200_000_000, "memory": "1Mi", "timeout_ms": 5000},
        "tests": [{"name": "says-ok", "stdin": "", "expect_stdout": "ok"}]}))
    add_manifest(ws, "dev/greedy", str(mod))                              # cpu 50m: 50 M fuel
    head = git.Repo(ws.settings.gitops_dir).head.commit.hexsha
    with pytest.raises(TestFailed) as err:
        release(module_dir=str(mod), target="dev/greedy", auto_approve=True, ai_check=False)
    assert "says-ok (out_of_fuel" in str(err.value)
    assert "modules/dev/greedy.yaml: fuel 50000000 (module.yaml: 200000000)" in (err.value.hint or "")
    assert git.Repo(ws.settings.gitops_dir).head.commit.hexsha == head   # nothing committed, nor quarantined (Git)
    assert "greedy" not in {m["name"] for m in host.modules()}


def test_the_limits_hint_gives_the_manifest_lines_module_yaml_asks_for(tmp_path):
    """Found from outside: a user raised fuel and memory in module.yaml for a bigger input; the test
    step failed under the manifest's limits and the hint said only 'raise them there'."""
    from tasks.supply import _limits_hint
    from wasmops.supply.source import Limits, ModuleSource, TestCase

    src = ModuleSource(name="sieve", language="zig", sources=["main.zig"], root=tmp_path, tests=[TestCase(name="c")],
                       limits=Limits(fuel=900_000_001, memory="12Mi", timeout_ms=500, max_stdout="1Ki"))
    hint = _limits_hint(src, {"fuel": 400_000_000, "memory": 4 << 20, "timeout_ms": 2000, "max_stdout": 1024},
                        "/gitops/modules/dev/sieve.yaml")
    assert "set spec.runtimeConfig resources.cpu: 901m, resources.memory: 12Mi in /gitops/modules/dev/sieve.yaml" in hint
    assert "timeoutMs" not in hint.split("set spec.runtimeConfig", 1)[1], hint   # 2000 ms is already more
