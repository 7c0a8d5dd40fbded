"""Onboarding: `wasmops new` scaffolds that pass `wasmops test`, `wasmops add` writes a schema-valid
manifest (or refuses with the field, writing nothing), and `wasmops release` of a target that has no
manifest fails before Prefect is imported."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
import yaml

from support.host import WASMOPS


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    home = tmp_path_factory.mktemp("onboard-ws")
    cwd = tmp_path_factory.mktemp("user")
    env = {**os.environ, "WASMOPS_HOME": str(home), "COLUMNS": "200"}

    def run(*args, check=None, python_flags=()):
        cmd = [sys.executable, *python_flags, WASMOPS, *map(str, args)] if python_flags else \
              [WASMOPS, *map(str, args)]
        p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
        if check is not None:
            assert p.returncode == check, f"{args} → {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p

    run("init", check=0)
    run.cwd, run.home = cwd, home
    return run


def _head(home):
    import git

    return git.Repo(home / "gitops").head.commit.hexsha


@pytest.mark.parametrize("language", ["c", "wat", "zig"])
def test_scaffold_passes_wasmops_test_as_generated(ws, language):
    name = f"fresh-{language}"
    ws("new", name, "--language", language, check=0)
    p = ws("test", name, check=0)
    assert "counts" in p.stdout and "empty-input-is-an-error" in p.stdout and "FAIL" not in p.stdout
    src = yaml.safe_load((ws.cwd / name / "module.yaml").read_text())
    error_case = next(c for c in src["tests"] if c.get("expect_exit", 0) != 0)
    assert error_case["expect_exit"] == 2 and error_case["expect_stdout_contains"]
    again = ws("new", name, "--language", language, check=1)
    assert "already" in again.stderr and "Traceback" not in again.stderr


def test_add_writes_a_schema_valid_manifest_and_refuses_duplicates(ws):
    from wasmops.gitops.manifest import WasmModuleDeployment

    ws("new", "counter", "--language", "wat", check=0)
    p = ws("add", "counter", "--target", "dev/counter", "--team", "search", "--project", "words",
           "--cost-center", "cc-7", check=0)
    assert "wasmops release counter --target dev/counter" in p.stdout
    path = ws.home / "gitops" / "modules" / "dev" / "counter.yaml"
    m = WasmModuleDeployment.model_validate(yaml.safe_load(path.read_text()))
    assert m.key == "dev/counter" and m.metadata.labels == {"team": "search", "project": "words", "cost-center": "cc-7",
                                                                 "wasmops.dev/module": "counter"}
    assert not os.path.isabs(m.spec.source) and (ws.home / "gitops" / m.spec.source / "module.yaml").exists()
    import git

    msg = git.Repo(ws.home / "gitops").head.commit.message
    assert msg.startswith("add dev/counter") and "Wasmops-Actor:" in msg and "Wasmops-Source:" in msg
    head = _head(ws.home)
    dup = ws("add", "counter", "--target", "dev/counter", "--team", "x", "--project", "y", check=1)
    assert "already exists" in dup.stderr and "counter.yaml" in dup.stderr and _head(ws.home) == head


def test_add_over_a_yml_manifest_written_by_hand_names_that_file(ws):
    """Found from outside: the refusal named gamma.yaml when the manifest was gamma.yml."""
    ws("new", "ymlmod", "--language", "wat", check=0)
    ws("add", "ymlmod", "--target", "dev/ymlmod", "--team", "qa", "--project", "p", check=0)
    gitops = ws.home / "gitops"
    subprocess.run(["git", "-C", str(gitops), "mv", "modules/dev/ymlmod.yaml", "modules/dev/ymlmod.yml"], check=True)
    subprocess.run(["git", "-C", str(gitops), "-c", "user.name=ann", "-c", "user.email=a@example.com", "commit",
                    "-qm", "rename by hand"], check=True)
    dup = ws("add", "ymlmod", "--target", "dev/ymlmod", "--team", "qa", "--project", "p", check=1)
    assert "already exists" in dup.stderr and "ymlmod.yml" in dup.stderr and "ymlmod.yaml" not in dup.stderr, dup.stderr


@pytest.mark.parametrize("namespace,given,env", [
    ("prod", None, "prod"), ("prod-eu", None, "prod"), ("production", None, "prod"), ("products", None, "dev"),
    ("staging", None, "dev"),
    ("prod", "dev", "dev"), ("qa", "prod", "prod"),
])
def test_add_takes_the_environment_from_a_prod_namespace_unless_told(ws, namespace, given, env):
    """`add --target prod/x` wrote environment dev, so a release to prod/x was never asked for approval."""
    from wasmops.gitops.manifest import WasmModuleDeployment

    if not (ws.cwd / "counter").exists():
        ws("new", "counter", "--language", "wat", check=0)
    name = f"env-{namespace}-{given or 'default'}"
    p = ws("add", "counter", "--target", f"{namespace}/{name}", "--team", "t", "--project", "p",
           *(("--env", given) if given else ()), check=0)
    path = ws.home / "gitops" / "modules" / namespace / f"{name}.yaml"
    assert WasmModuleDeployment.model_validate(yaml.safe_load(path.read_text())).spec.environment == env
    assert f"{namespace}/{name} ({env})" in p.stdout
    assert ("not asked for approval" in p.stdout) == (given == "dev" and namespace == "prod")
    assert p.stdout.rstrip().endswith("--auto-approve") == (env == "dev")


@pytest.mark.parametrize("args,field", [
    (["counter", "--target", "dev/Counter!"], "--target name"),
    (["counter", "--target", "no-namespace"], "--target"),
    (["counter", "--target", "dev/a/b"], "--target"),
    (["nowhere", "--target", "dev/nowhere"], "module.yaml"),
    (["counter", "--target", "dev/c2", "--team", "Bad Team"], "--team"),
    (["counter", "--target", "dev/c3", "--env", "staging"], "--env"),
])
def test_add_bad_input_names_the_field_and_writes_nothing(ws, args, field):
    if not (ws.cwd / "counter").exists():
        ws("new", "counter", "--language", "wat", check=0)
    head = _head(ws.home)
    p = ws("add", *args, check=1)
    assert field in p.stderr and "Traceback" not in p.stderr
    assert _head(ws.home) == head
    assert not list((ws.home / "gitops" / "modules" / "dev").glob("c[23].yaml"))


def test_release_without_manifest_fails_before_prefect_starts(ws):
    ws("new", "orphan", "--language", "wat", check=0)
    t = time.perf_counter()
    p = ws("release", "orphan", "--target", "dev/orphan", check=1, python_flags=("-X", "importtime"))
    dt = time.perf_counter() - t
    assert "no WasmModuleDeployment dev/orphan" in p.stderr
    assert "wasmops add orphan --target dev/orphan" in p.stderr  # the exact command to run
    imported = {line.split("|")[-1].strip() for line in p.stderr.splitlines() if line.startswith("import time:")}
    assert "prefect" not in imported and "Traceback" not in p.stderr
    print(f"release of a missing target → error in {dt:.2f}s (with -X importtime)")


def test_release_with_host_down_fails_fast_without_commit(ws):
    ws("add", "orphan", "--target", "dev/orphan", "--team", "qa", "--project", "p", check=0)
    head = _head(ws.home)
    env_url = {"WASMOPS_HOST_URL": "http://127.0.0.1:9"}
    p = subprocess.run([WASMOPS, "release", "orphan", "--target", "dev/orphan", "--auto-approve"],
                       env={**os.environ, "WASMOPS_HOME": str(ws.home), **env_url}, cwd=ws.cwd,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and "host is not reachable" in p.stderr and "Traceback" not in p.stderr
    assert _head(ws.home) == head


def test_cli_release_shows_steps_and_flow_errors_come_out_as_one_line(ws, prefect_api):
    from support.host import HostProcess, Workspace
    from wasmops.config import Settings

    hp = HostProcess(Workspace(ws.home, Settings(home=ws.home)))
    hp.start()
    env = {**os.environ, "WASMOPS_HOME": str(ws.home), "PREFECT_API_URL": prefect_api, "COLUMNS": "200"}

    def release(name):
        return subprocess.run([WASMOPS, "release", name, "--target", f"dev/{name}", "--auto-approve", "--no-ai-check"],
                              env=env, cwd=ws.cwd, capture_output=True, text=True, timeout=300)
    try:
        ws("new", "shipit", "--language", "wat", check=0)
        ws("add", "shipit", "--target", "dev/shipit", "--team", "qa", "--project", "p", check=0)
        ok = release("shipit")
        assert ok.returncode == 0, ok.stdout + ok.stderr
        for step in ("build", "test", "policy", "sign", "publish", "commit", "reconcile", "verify"):
            assert f"✓ {step}" in ok.stdout, ok.stdout
        assert "released dev/shipit" in ok.stdout and "2/2 passed" in ok.stdout
        assert "Traceback" not in ok.stderr and "| INFO" not in ok.stdout + ok.stderr

        bad = ws.cwd / "sneaky"
        bad.mkdir()
        (bad / "sneaky.wat").write_text(
            '(module (import "wasi_snapshot_preview1" "sock_accept" (func (param i32 i32 i32) (result i32)))'
            ' (memory (export "memory") 1) (func (export "_start")))')
        (bad / "module.yaml").write_text("name: sneaky\nlanguage: wat\nsources: [sneaky.wat]\n"
                                         "tests:\n  - {name: runs}\n")
        ws("add", "sneaky", "--target", "dev/sneaky", "--team", "qa", "--project", "p", check=0)
        denied = release("sneaky")
        assert denied.returncode == 1
        assert "error:" in denied.stderr and "sock_accept" in denied.stderr
        assert "Traceback" not in denied.stderr + denied.stdout and "✗ policy" in denied.stdout

        ws("add", "shipit", "--target", "prod/shipit", "--env", "prod", "--team", "qa", "--project", "p", check=0)
        paused = subprocess.Popen([WASMOPS, "release", "shipit", "--target", "prod/shipit", "--no-ai-check"],
                                  env=env, cwd=ws.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = []
        for line in paused.stdout:  # waits on the process's own output, line by line
            seen.append(line)
            m = re.search(r"wasmops approve (\S+) --reason", line)
            if m:
                break
        assert m, "".join(seen)
        run_id = m.group(1)
        assert any(f"flow run {run_id}" in x for x in seen)
        deadline, listing = time.monotonic() + 60, ""
        while "Approve release of" not in listing and time.monotonic() < deadline:  # until the pause lands
            listing = subprocess.run([WASMOPS, "approvals"], env=env, capture_output=True, text=True).stdout
        assert run_id in listing and "Approve release of" in listing and "\\n" not in listing
        assert f"wasmops reject {run_id}" in listing
        rj = subprocess.run([WASMOPS, "reject", run_id, "--reason", "not today"], env=env, capture_output=True,
                            text=True, timeout=120)
        assert rj.returncode == 0, rj.stderr
        rest, err = paused.communicate(timeout=120)
        assert paused.returncode == 1 and "not today" in err and "Traceback" not in err + rest
    finally:
        hp.stop()


def test_a_prebuilt_module_the_policy_denies_fails_before_prefect_starts_and_names_the_trust_level(ws):
    import wasmtime

    d = ws.cwd / "sleepy"
    d.mkdir()
    (d / "m.wasm").write_bytes(wasmtime.wat2wasm("""(module
      (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1) (func (export "_start")))"""))        # Go's wasip1 runtime imports poll_oneoff
    (d / "module.yaml").write_text("name: sleepy\nlanguage: prebuilt\nsources: [m.wasm]\n"
                                   "tests:\n  - name: runs\n    stdin: ''\n")
    ws("add", "sleepy", "--target", "dev/sleepy", "--team", "qa", "--project", "p", check=0)
    head = _head(ws.home)
    p = ws("release", "sleepy", "--target", "dev/sleepy", "--auto-approve", check=1, python_flags=("-X", "importtime"))
    imported = {line.split("|")[-1].strip() for line in p.stderr.splitlines() if line.startswith("import time:")}
    assert "prefect" not in imported and "Traceback" not in p.stderr
    err = "\n".join(ln for ln in p.stderr.splitlines() if not ln.startswith("import time:"))
    assert "denied at trust level sandboxed" in err and "poll_oneoff" in err, err
    assert "allowed at trust level standard" in err and "trustLevel" in err, err
    assert _head(ws.home) == head


@pytest.mark.parametrize("tests_yaml, says", [
    ("tests: []\n", "no test cases"),
    ("tests:\n  - name: with-args\n    args: [x]\n  - name: big\n    stdin: '{big}'\n",
     "none of the test cases can run through the host of dev/{name}"),
])
def test_a_release_the_host_could_not_verify_fails_before_prefect_starts(ws, tests_yaml, says):
    """A user's modules: no cases (failed at the test step after 11 s), only cases the host cannot run
    (deployed, then failed verify after 16 s; a 9 MiB stdin was rolled back and quarantined)."""
    import wasmtime

    name = f"unverifiable-{len(tests_yaml) % 97}"
    d = ws.cwd / name
    d.mkdir()
    (d / "m.wasm").write_bytes(wasmtime.wat2wasm('(module (memory (export "memory") 1) (func (export "_start")))'))
    (d / "module.yaml").write_text(f"name: {name}\nlanguage: prebuilt\nsources: [m.wasm]\n"
                                   + tests_yaml.replace("{big}", "x" * (9 * 2**20)))
    ws("add", name, "--target", f"dev/{name}", "--team", "qa", "--project", "p", check=0)
    head = _head(ws.home)
    p = ws("release", name, "--target", f"dev/{name}", "--auto-approve", check=1, python_flags=("-X", "importtime"))
    imported = {line.split("|")[-1].strip() for line in p.stderr.splitlines() if line.startswith("import time:")}
    assert "prefect" not in imported and "Traceback" not in p.stderr
    err = " ".join(" ".join(ln for ln in p.stderr.splitlines() if not ln.startswith("import time:")).split())
    assert says.format(name=name) in err and f"{name}/module.yaml: tests" in err, err
    if "big" in tests_yaml:
        assert "with-args: args given" in err and "stdin of 9437184 bytes is over the host's request limit" in err, err
    assert _head(ws.home) == head
