"""Ctrl-C or SIGTERM of `wasmops release` right after it says "releasing ...", while its own Prefect
server starts (no `wasmops up`): found from outside, 2026-12-07. The flow records an interrupt only
once its body runs, which takes seconds after that line; a signal before it left no decision record
(SIGTERM: not even a word). Now exactly one record of kind release, verdict interrupted, says where
it stopped and that nothing was rolled back, and the exit is the signal's. The test waits on the
printed line and the exit; wherever the signal lands, there must be exactly one record."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap

import pytest

from support.cli_lines import AS_A_TERMINAL_STARTS_IT
from support.host import REPO, WASMOPS, HostProcess, make_workspace

WAT = textwrap.dedent("""\
    (module
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 32) "early bird\\n")
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 32)) (i32.store (i32.const 4) (i32.const 11))
        (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
""")
YAML = textwrap.dedent("""\
    name: early
    language: wat
    sources: [early.wat]
    limits: {fuel: 500000, memory: 1Mi, timeout_ms: 800}
    tests:
      - {name: chirps, stdin: 'x', expect_stdout: 'early bird'}
""")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_release_stopped_as_it_starts_leaves_one_record(signum, tmp_path):
    from wasmops.gitops.decisions import list_decisions

    ws = make_workspace(tmp_path / "ws")
    hp = HostProcess(ws)
    url = hp.start("--workers", "1").url
    env = {k: v for k, v in ws.env.items() if not k.startswith("PREFECT_")}   # the CLI's own ephemeral server
    env.update({"WASMOPS_HOST_URL": url, "COLUMNS": "300", "PYTHONUNBUFFERED": "1"})
    mod = tmp_path / "early"
    mod.mkdir()
    (mod / "early.wat").write_text(WAT)
    (mod / "module.yaml").write_text(YAML)
    try:
        assert subprocess.run([WASMOPS, "add", str(mod), "--target", "dev/early", "--team", "qa", "--project", "p"],
                              env=env, capture_output=True, timeout=120).returncode == 0
        proc = subprocess.Popen([*AS_A_TERMINAL_STARTS_IT, WASMOPS, "release", str(mod), "--target", "dev/early",
                                 "--auto-approve", "--no-ai-check"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            first = proc.stdout.readline()
            assert first.startswith("releasing early"), first
            if signum == signal.SIGINT:
                os.killpg(proc.pid, signal.SIGINT)                   # what Ctrl-C in a terminal does
            else:
                proc.send_signal(signal.SIGTERM)
            rest = proc.stdout.read()
            assert proc.wait(timeout=180) == (130 if signum == signal.SIGINT else -signal.SIGTERM), first + rest
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        recs = list_decisions(ws.settings.gitops_dir, subject="dev/early", kind="release")
        assert [d.verdict for d in recs] == ["interrupted"], first + rest
        assert recs[0].data["signal"] == signal.Signals(signum).name, recs[0]
        assert "nothing to roll back" in recs[0].action, recs[0]
        assert f"recorded {recs[0].id}" in rest, rest
    finally:
        hp.stop()
