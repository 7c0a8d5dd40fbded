"""The README's own-module path (`wasmops host &`, no `wasmops up`): Ctrl-C during a release.

The terminal's SIGINT reached the CLI's ephemeral Prefect server too (same process group): the
release hung instead of reverting, and every later release of the module waited for its lock for
good. Now the release reverts and exits, and the same command gets the module's lock again. The
release is to prod, so it stops after its commit to wait for approval (a point it cannot race past);
the test sends SIGINT to the release's whole process group, as a terminal does, and waits on printed
lines and exits.

The release is started as a terminal starts a foreground command: with SIGINT at its default. A
process started in the background by a non-interactive shell ignores SIGINT (POSIX), and so does
everything it starts: `make test` runs this directory in the background, so without the reset the
CLI under test inherited an ignored SIGINT, and the interrupt never arrived. That, not the CLI, was
the hang seen in CI (a stack dump showed the release still polling its approval, its handler never
called; /proc/<pid>/status showed SIGINT in SigIgn).
"""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap

from support.cli_lines import AS_A_TERMINAL_STARTS_IT, lines, until
from support.host import REPO, WASMOPS, HostProcess, make_workspace

WAT = textwrap.dedent("""\
    (module
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "hi")
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 2))
        (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
""")
YAML = textwrap.dedent("""\
    name: hi-interrupted
    language: wat
    sources: [hi.wat]
    limits: {fuel: 1000000, memory: 1Mi, timeout_ms: 1000}
    tests:
      - {name: says-hi, stdin: '', expect_stdout: 'hi'}
""")


def _release(env, mod) -> subprocess.Popen:
    return subprocess.Popen([*AS_A_TERMINAL_STARTS_IT, WASMOPS, "release", str(mod), "--target", "prod/hi-interrupted",
                             "--no-ai-check"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def test_ctrl_c_during_a_release_without_up_reverts_exits_and_frees_the_module(tmp_path):
    ws = make_workspace(tmp_path / "ws")
    hp = HostProcess(ws)
    url = hp.start("--workers", "1").url
    env = {k: v for k, v in ws.env.items() if not k.startswith("PREFECT_")}   # the CLI's own ephemeral server
    env.update({"WASMOPS_HOST_URL": url, "COLUMNS": "300"})
    mod = tmp_path / "hi"
    mod.mkdir()
    (mod / "hi.wat").write_text(WAT)
    (mod / "module.yaml").write_text(YAML)
    try:
        assert subprocess.run([WASMOPS, "add", str(mod), "--target", "prod/hi-interrupted", "--team", "qa",
                               "--project", "p"], env=env, capture_output=True, timeout=120).returncode == 0
        for attempt in range(2):                 # the second gets the lock the first held when interrupted
            proc, seen = _release(env, mod), []
            try:
                until(lines(proc), r"waiting for approval", seen)
                os.killpg(proc.pid, signal.SIGINT)                 # what Ctrl-C in a terminal does
                assert proc.wait(timeout=180) == 130, "".join(seen)
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
            assert "another release" not in "".join(seen), "".join(seen)     # it did not wait for a lock
        from wasmops.gitops.decisions import list_decisions

        recs = list_decisions(ws.settings.gitops_dir, subject="prod/hi-interrupted", kind="release")
        assert [(d.verdict, d.data["step"]) for d in recs] == [("interrupted", "approval")] * 2, recs
    finally:
        hp.stop()
