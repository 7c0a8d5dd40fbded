"""The tester's module through the real release flow and host: the deployment's env is
{MODE: hash}; a case with no env (it expects the module's default mode) passed `wasmops test` and
failed verify, so a healthy build was rolled back and its digest quarantined. Now that case is
*not run* (env differs), the one with the deployment's env runs, and the release goes through."""

from __future__ import annotations

import yaml

from support.wasi_wat import mode_wat

MODES_YAML = """name: modes
language: wat
sources: [mode.wat]
limits: {fuel: 1000000, memory: 1Mi, timeout_ms: 1000}
tests:
  - {name: counts, stdin: 'abc', expect_stdout: '{"mode": "count"}'}
  - {name: hashes, stdin: 'abc', env: {MODE: hash}, expect_stdout: '{"mode": "hash"}'}
"""


def test_a_case_without_the_deployments_env_is_not_run_and_the_release_goes_through(flow_env, tmp_path):
    from flows.release import release
    from wasmops.gitops.decisions import list_decisions
    from wasmops.gitops.quarantine import load, repo_file
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.onboard import Target, add_deployment
    from wasmops.supply.source import load_module_source
    from wasmops.supply.testrun import run_cases
    import wasmtime

    ws, host, _ = flow_env
    d = tmp_path / "modes"
    d.mkdir()
    (d / "mode.wat").write_text(mode_wat())
    (d / "module.yaml").write_text(MODES_YAML)
    assert run_cases(load_module_source(d), wasmtime.wat2wasm(mode_wat())).summary() == "2/2 passed"
    repo = GitOpsRepo.from_settings(ws.settings)
    path, _ = add_deployment(repo, d, Target("dev", "modes"), team="qa", project="env")
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["runtimeConfig"]["env"] = {"MODE": "hash"}
    repo.write_files({path.relative_to(repo.path).as_posix(): yaml.safe_dump(doc, sort_keys=False)}, "MODE=hash")
    quarantined = {e["digest"] for e in load(repo_file(ws.settings))}

    res = release(module_dir=str(d), target="dev/modes", auto_approve=True, ai_check=False)
    assert res["verify"] == {"passed": True, "ran": 1, "not_run": 1, "summary": "1/1 passed, 1 not run"}
    [dec] = list_decisions(ws.settings.gitops_dir, subject="dev/modes", kind="verify")
    assert dec.verdict == "pass" and "counts: not run: env differs (MODE)" in dec.explanation, dec.explanation
    assert host.run("dev", "modes", b"abc").json() == {"mode": "hash"}
    assert {e["digest"] for e in load(repo_file(ws.settings))} == quarantined    # nothing quarantined
