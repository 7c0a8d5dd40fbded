"""A release waiting for approval lives through `wasmops down` and `up` of the Prefect server.

The release's poll of its paused run used to raise once the client's retries ran out, and the
release failed although the run, still paused, was in the server's database. Here the release
process gets two client retries (PREFECT_CLIENT_MAX_RETRIES=2: ~6 s; the default five last about a
minute), so a poll during the outage fails; the test waits on the lines the release prints, never
on time.
"""

from __future__ import annotations

import queue
import re
import subprocess
import textwrap
import threading

import pytest

from support.host import REPO, WASMOPS

ECHO_WAT = textwrap.dedent("""\
    (module
      (import "wasi_snapshot_preview1" "fd_read" (func $r (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 1024))
        (drop (call $r (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
        (i32.store (i32.const 4) (i32.load (i32.const 8)))
        (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
""")
ECHO_YAML = textwrap.dedent("""\
    name: echo-approve
    language: wat
    sources: [echo.wat]
    limits: {fuel: 1000000, memory: 1Mi, timeout_ms: 1000, max_stdout: 4Ki}
    tests:
      - {name: echoes, stdin: 'ship it', expect_stdout: 'ship it'}
""")


class Lines:
    """The release's output, line by line, read on a thread; ``until`` waits for a matching line."""

    def __init__(self, proc: subprocess.Popen):
        self.q: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc) -> None:
        for line in proc.stdout:
            self.q.put(line)
        self.q.put(None)

    def until(self, pattern: str, timeout: float = 300) -> re.Match:
        while True:
            line = self.q.get(timeout=timeout)
            if line is None:
                raise AssertionError(f"the release ended before {pattern!r}:\n{''.join(self.seen)}")
            self.seen.append(line)
            if m := re.search(pattern, line):
                return m


@pytest.fixture
def small_stack(tmp_path):
    from conftest import Stack
    from wasmops.services import free_port

    st = Stack(tmp_path / "home")
    ports = [a for n in ("prefect", "host") for a in (f"--{n}-port", free_port())]
    st.up = lambda: st.wasmops("up", "--no-serve", "--no-mlflow", *ports, timeout=300)
    st.up()
    yield st
    st.wasmops("down", check=None)


def test_a_release_waiting_for_approval_survives_a_prefect_restart(small_stack, tmp_path):
    st = small_stack
    mod = tmp_path / "echo-approve"
    mod.mkdir()
    (mod / "echo.wat").write_text(ECHO_WAT)
    (mod / "module.yaml").write_text(ECHO_YAML)
    st.wasmops("add", mod, "--target", "prod/echo-approve", "--team", "qa", "--project", "restart")
    proc = subprocess.Popen([WASMOPS, "release", str(mod), "--target", "prod/echo-approve"], cwd=REPO,
                            env={**st.env, "PREFECT_CLIENT_MAX_RETRIES": "2", "COLUMNS": "300"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out = Lines(proc)
        run_id = out.until(r"wasmops approve ([0-9a-f-]{36})").group(1)
        st.wasmops("down")
        out.until(r"Prefect server stopped answering")
        st.up()
        out.until(r"Prefect server is back")
        st.wasmops("approve", run_id, "--reason", "approved after a restart")
        out.until(r"^released")
        assert proc.wait(timeout=300) == 0, "".join(out.seen)
    finally:
        if proc.poll() is None:
            proc.kill()
    r = st.wasmops("decisions", "--module", "prod/echo-approve", "--kind", "approval", "--json").stdout
    assert "approved after a restart" in r
