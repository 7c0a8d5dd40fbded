"""A deployment with fixed arguments through the real release flow and host: module.yaml's ``args``
go to the manifest's ``spec.runtimeConfig.args`` (``wasmops add``), the host runs every request with
argv = [name, *args], and verify runs the case whose ``args`` are the deployment's through the host
(before: "not run: args given (the host passes none)", and a tool needing ``--format json`` could
not be served at all)."""

from __future__ import annotations

from support.wasi_wat import argv_echo_stdout, argv_echo_wat

ARGS_YAML = """name: argv
language: wat
sources: [argv.wat]
limits: {fuel: 1000000, memory: 1Mi, timeout_ms: 1000}
args: ["--format", "json", "ünï"]
tests:
  - {name: json, args: ["--format", "json", "ünï"], expect_stdout: "argv\\0--format\\0json\\0ünï\\0"}
  - {name: plain, expect_stdout: "argv\\0"}
"""


def test_a_release_serves_the_args_and_verifies_the_case_that_has_them(flow_env, tmp_path):
    import wasmtime

    from flows.release import release
    from wasmops.gitops.decisions import list_decisions
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.onboard import Target, add_deployment
    from wasmops.supply.source import load_module_source
    from wasmops.supply.testrun import run_cases

    ws, host, _ = flow_env
    d = tmp_path / "argv"
    d.mkdir()
    (d / "argv.wat").write_text(argv_echo_wat())
    (d / "module.yaml").write_text(ARGS_YAML)
    assert run_cases(load_module_source(d), wasmtime.wat2wasm(argv_echo_wat())).summary() == "2/2 passed"
    repo = GitOpsRepo.from_settings(ws.settings)
    add_deployment(repo, d, Target("dev", "argv"), team="qa", project="args")
    assert repo.desired().deployments["dev/argv"].spec.runtime_config.args == ["--format", "json", "ünï"]

    res = release(module_dir=str(d), target="dev/argv", auto_approve=True, ai_check=False)
    assert res["verify"] == {"passed": True, "ran": 1, "not_run": 1, "summary": "1/1 passed, 1 not run"}
    [dec] = list_decisions(ws.settings.gitops_dir, subject="dev/argv", kind="verify")
    assert "plain: not run: args differ (the host passes --format json 'ünï')" in dec.explanation, dec.explanation
    assert host.run("dev", "argv", b"").content == argv_echo_stdout(["argv", "--format", "json", "ünï"])
    (live,) = [m for m in host.modules() if m["name"] == "argv"]
    assert live["args"] == ["--format", "json", "ünï"]
