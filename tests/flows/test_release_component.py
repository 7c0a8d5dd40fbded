"""A WASI 0.2 command component (what ``cargo build --target wasm32-wasip2`` makes) onboarded as a user
would: ``wasmops check``, ``wasmops test`` and ``wasmops add`` (language ``prebuilt``), then the real
release flow (build, test, policy, sign, publish to OCI, commit, reconcile onto the real host, verify
through it) and the host serving it."""

from __future__ import annotations

import base64
import subprocess

from support import components as c
from support.host import WASMOPS

#: Echoes stdin; with nothing on stdin, says so on stdout and stderr and exits through wasi:cli/exit(err).
ECHO_OR_FAIL = c.command('''(local.set $in (call $get_stdin))
    (block $done (loop $l
      (global.set $heap (i32.const 1024))
      (call $read (local.get $in) (i64.const 4096) (i32.const 0))
      (br_if $done (i32.load8_u (i32.const 0)))
      (local.set $n (i32.add (local.get $n) (i32.load (i32.const 8))))
      (call $put (i32.load (i32.const 4)) (i32.load (i32.const 8)))
      (br $l)))
    (if (i32.eqz (local.get $n)) (then
      (call $put (i32.const 64) (i32.const 16))
      (call $write (call $get_stderr) (i32.const 96) (i32.const 11) (i32.const 16))
      (call $exit (i32.const 1))))
    (i32.const 0)''', extra='(data (i32.const 64) "nothing to echo\\0a") (data (i32.const 96) "empty stdin")')

MODULE_YAML = """name: cecho
language: prebuilt
sources: [main.wasm]
limits: {fuel: 1000000, memory: 1Mi, timeout_ms: 1000}
tests:
  - {name: echoes, stdin: "hello, component", expect_stdout: "hello, component"}
  - {name: empty-is-an-error, stdin: "", expect_exit: 1, expect_stdout_contains: "nothing to echo",
     expect_stderr_contains: "empty stdin"}
"""


def _cli(ws, *args) -> subprocess.CompletedProcess:
    p = subprocess.run([WASMOPS, *map(str, args)], env={**ws.env, "COLUMNS": "200"}, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, f"{args} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def test_a_component_is_checked_tested_added_released_and_served(flow_env, tmp_path):
    from flows.release import release
    from wasmops.gitops.decisions import list_decisions

    ws, host, _ = flow_env
    d = tmp_path / "cecho"
    d.mkdir()
    (d / "main.wasm").write_bytes(ECHO_OR_FAIL)
    (d / "module.yaml").write_text(MODULE_YAML)

    checked = _cli(ws, "check", d / "main.wasm", "--trust-level", "sandboxed").stdout
    assert "wasi:cli/stdin@0.2.0" in checked and "allowed" in checked.lower(), checked
    tested = _cli(ws, "test", d).stdout
    assert tested.count("│ pass ") == 2 and "fail" not in tested, tested
    _cli(ws, "add", d, "--target", "dev/cecho", "--team", "qa", "--project", "components")

    res = release(module_dir=str(d), target="dev/cecho", auto_approve=True, ai_check=False)
    assert res["verify"] == {"passed": True, "ran": 2, "not_run": 0, "summary": "2/2 passed"}
    [dec] = list_decisions(ws.settings.gitops_dir, subject="dev/cecho", kind="verify")
    assert dec.verdict == "pass"
    (live,) = [m for m in host.modules() if m["name"] == "cecho"]
    assert live["digest"] == res["manifest_digest"]

    ok = host.run("dev", "cecho", b"over http")
    assert ok.status_code == 200 and ok.content == b"over http"
    bad = host.run("dev", "cecho", b"")
    assert bad.status_code == 502 and bad.content == b"nothing to echo\n"
    assert bad.headers["x-wasmops-exit-code"] == "1"
    assert base64.b64decode(bad.headers["x-wasmops-stderr"]) == b"empty stdin"
