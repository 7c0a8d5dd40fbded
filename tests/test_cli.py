"""The `wasmops` CLI end to end on the example modules, from a directory other than the repo."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from support.host import REPO, WASMOPS
from support.wat import FIXTURES


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    home = tmp_path_factory.mktemp("cli-ws")
    cwd = tmp_path_factory.mktemp("elsewhere")
    env = {**os.environ, "WASMOPS_HOME": str(home), "WASMOPS_REGISTRY_TIMEOUT_S": "2"}

    def run(*args, check=None):
        p = subprocess.run([WASMOPS, *map(str, args)], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
        if check is not None:
            assert p.returncode == check, f"wasmops {' '.join(map(str, args))} → {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p

    run("init", check=0)
    run.cwd, run.home = cwd, home
    return run


def test_help_is_fast_and_lists_commands():
    t = time.perf_counter()
    p = subprocess.run([WASMOPS, "--help"], capture_output=True, text=True)
    dt = time.perf_counter() - t
    assert p.returncode == 0
    for cmd in ("build", "test", "check", "sign", "verify", "publish", "pull", "host", "release", "approve"):
        assert cmd in p.stdout
    print(f"wasmops --help: {dt:.2f}s")


@pytest.mark.parametrize("example", ["greet-c", "sum-wat", "upper-zig"])
def test_build_test_check_sign_verify_publish_pull(cli, example, tmp_path):
    out = tmp_path / f"{example}.wasm"
    cli("build", REPO / "examples" / example, "-o", out, check=0)
    p = cli("test", REPO / "examples" / example, "--wasm", out, check=0)
    assert "pass" in p.stdout and "FAIL" not in p.stdout
    cli("check", out, "--trust-level", "sandboxed", check=0)
    cli("sign", out, check=0)
    assert (tmp_path / f"{example}.wasm.sigstore.json").exists()
    cli("verify", out, check=0)
    ref = f"oci-layout://{cli.home}/oci:{example}-v1"
    digest = cli("publish", out, "--to", ref, check=0).stdout.strip()
    assert digest.startswith("sha256:") and len(digest) == 71
    pulled = tmp_path / "pulled.wasm"
    cli("pull", ref, "-o", pulled, check=0)
    assert pulled.read_bytes() == out.read_bytes()


def test_unseen_module_following_the_format(cli, tmp_path):
    d = tmp_path / "fresh"
    d.mkdir()
    shutil.copy(FIXTURES / "hostile" / "ok.wat", d / "ok.wat")
    (d / "module.yaml").write_text("name: fresh\nlanguage: wat\nsources: [ok.wat]\n"
                                   "tests:\n  - {name: says-ok, expect_stdout: '{\"ok\":true}'}\n")
    cli("test", d, check=0)


def test_failures_exit_1_with_clear_messages(cli, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "module.yaml").write_text("name: bad\nlanguage: cobol\nsources: [x]\n")
    (bad / "x").write_text("")
    p = cli("build", bad, "-o", tmp_path / "x.wasm", check=1)
    assert "module.yaml" in p.stderr and "language" in p.stderr and "Traceback" not in p.stderr
    forbidden = tmp_path / "forbidden.wasm"
    import wasmtime

    forbidden.write_bytes(wasmtime.wat2wasm((FIXTURES / "hostile" / "forbidden.wat").read_text()))
    p = cli("check", forbidden, "--trust-level", "sandboxed", check=1)
    assert "sock_accept" in p.stdout
    ok = tmp_path / "ok.wasm"
    ok.write_bytes(wasmtime.wat2wasm((FIXTURES / "hostile" / "ok.wat").read_text()))
    cli("sign", ok, check=0)
    ok.write_bytes(ok.read_bytes() + b"\x00")
    p = cli("verify", ok, check=1)
    assert "digest mismatch" in p.stderr and "Traceback" not in p.stderr
    p = cli("pull", f"oci-layout://{cli.home}/oci:does-not-exist", "-o", tmp_path / "n.wasm", check=1)
    assert not (tmp_path / "n.wasm").exists() and "Traceback" not in p.stderr
    p = cli("publish", ok, "--to", "oci://127.0.0.1:9/x/y:z", check=None)
    assert p.returncode == 1


def test_failing_case_exits_1(cli, tmp_path):
    d = tmp_path / "failing"
    d.mkdir()
    shutil.copy(FIXTURES / "hostile" / "loop.wat", d / "loop.wat")
    (d / "module.yaml").write_text("name: failing\nlanguage: wat\nsources: [loop.wat]\n"
                                   "limits: {fuel: 100000, timeout_ms: 200}\ntests:\n  - {name: spins}\n")
    p = cli("test", d, check=1)
    assert "out_of_fuel" in p.stdout


def test_schema_export(cli, tmp_path):
    import json

    cli("schema", "-o", tmp_path / "schemas", check=0)
    sch = json.loads((tmp_path / "schemas" / "WasmModuleDeployment.json").read_text())
    assert "moduleRef" in json.dumps(sch) and sch["$schema"].endswith("2020-12/schema")
