"""An interrupted release leaves one decision record saying what happened (found from outside,
2026-12-07: Ctrl-C rolled the release back and the CLI said "interrupted", but `wasmops decisions`
showed nothing: the audit trail had a hole exactly where a person stopped a release).

The module is written here (a WAT command printing a version string, its own module.yaml). The
in-process tests raise the interrupt inside the code a step runs (as Python raises a Ctrl-C
wherever the main thread is); the subprocess tests send real SIGINT and SIGTERM to `wasmops release`
once it prints that it waits for approval, as a person at a terminal, or a supervisor, would.
"""

from __future__ import annotations

import signal
import subprocess

import pytest

from support.cli_lines import AS_A_TERMINAL_STARTS_IT, lines, until
from support.gitops_helpers import add_manifest
from support.host import REPO, WASMOPS

WAT = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "%s")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const %d))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"""


def _module(d, name: str, version: str):
    d.mkdir(parents=True, exist_ok=True)
    (d / "m.wat").write_text(WAT % (version, len(version)))
    (d / "module.yaml").write_text(f"name: {name}\nlanguage: wat\nsources: [m.wat]\n"
                                   "limits: {fuel: 1000000, memory: 1Mi, timeout_ms: 500}\n"
                                   f"tests:\n  - {{name: says, stdin: '', expect_stdout: '{version}'}}\n")
    return d


def _records(ws, key: str):
    from wasmops.gitops.decisions import list_decisions

    return [d for d in list_decisions(ws.settings.gitops_dir, subject=key, kind="release") if d.subject == key]


def _committed(ws, d) -> bool:
    import git

    repo = git.Repo(ws.settings.gitops_dir)
    return not repo.is_dirty(untracked_files=True, path="audit") and any(
        f"Wasmops-Decision: {d.id}" in c.message for c in repo.iter_commits(max_count=20))


def _press_ctrl_c(*a, **kw):
    raise KeyboardInterrupt


def test_ctrl_c_at_build_records_that_nothing_changed(flow_env, tmp_path, monkeypatch):
    import wasmops.supply.build as build
    from flows.release import release

    ws, _, _ = flow_env
    key = "dev/irq-build"
    add_manifest(ws, key, "irq-build")
    monkeypatch.setattr(build, "build", _press_ctrl_c)        # Ctrl-C while the compiler runs
    with pytest.raises(KeyboardInterrupt):
        release(module_dir=str(_module(tmp_path / "m", "irq-build", "v1")), target=key, auto_approve=True,
                releaser="ann")
    [d] = _records(ws, key)
    assert (d.verdict, d.actor, d.data["step"], d.data["signal"]) == ("interrupted", "ann", "build", "SIGINT")
    assert d.digest is None and d.data["rolled_back"] == [] and d.data["git_digest_now"] == ""
    assert "nothing was committed" in d.action and "at step build" in d.explanation, d
    assert _committed(ws, d)


def test_ctrl_c_at_verify_records_what_was_rolled_back(flow_env, tmp_path, monkeypatch):
    import wasmops.release.verify as verify
    from flows.release import release
    from wasmops.digests import shown
    from wasmops.gitops.repo import GitOpsRepo

    ws, host, _ = flow_env
    key = "dev/irq-verify"
    add_manifest(ws, key, "irq-verify")
    src = _module(tmp_path / "m", "irq-verify", "one")
    v1 = release(module_dir=str(src), target=key, auto_approve=True, ai_check=False)
    _module(src, "irq-verify", "two")
    monkeypatch.setattr(verify, "verify_via_host", _press_ctrl_c)   # after the commit and the reconcile
    with pytest.raises(KeyboardInterrupt):
        release(module_dir=str(src), target=key, auto_approve=True, ai_check=False, releaser="bob")
    [d] = _records(ws, key)                                    # one record, written once
    assert d.data["step"] == "verify" and d.actor == "bob"
    assert d.digest and d.digest != v1["manifest_digest"] and d.data["wasm_digest"].startswith("sha256:")
    assert d.data["commit"] and d.data["previous_digest"] == v1["manifest_digest"]
    assert d.data["git_digest_now"] == v1["manifest_digest"]
    undone = "\n".join(d.data["rolled_back"])
    assert "Git: the release commit" in undone and f"host: {shown('manifest', v1['manifest_digest'])} serves again" \
        in undone, d
    assert GitOpsRepo.from_settings(ws.settings).desired().deployments[key].spec.module_ref.digest == \
        v1["manifest_digest"]
    assert {m["name"]: m for m in host.modules()}["irq-verify"]["digest"] == v1["manifest_digest"]
    assert _committed(ws, d)


def test_ctrl_c_after_verify_records_that_the_new_digest_stays(flow_env, tmp_path, monkeypatch):
    """Past the transaction (the release judge samples): nothing is rolled back, and the record says the
    new digest is what Git pins, so a person knows it serves unjudged."""
    import tasks.release as release_tasks
    from flows.release import release

    ws, _, _ = flow_env
    key = "dev/irq-judge"
    add_manifest(ws, key, "irq-judge")
    src = _module(tmp_path / "m", "irq-judge", "one")
    release(module_dir=str(src), target=key, auto_approve=True, ai_check=False)
    _module(src, "irq-judge", "two")
    monkeypatch.setattr(release_tasks, "fresh_baseline", _press_ctrl_c)   # inside the ai-check subflow
    with pytest.raises(KeyboardInterrupt):
        release(module_dir=str(src), target=key, auto_approve=True, ai_requests=5)
    [d] = _records(ws, key)                                    # once, though the interrupt crossed two flows
    assert d.data["step"] == "ai-sample" and d.data["rolled_back"] == [], d
    assert d.data["git_digest_now"] == d.digest and "Git still pins the new" in d.action, d


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, -signal.SIGTERM)],
                         ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_waiting_for_approval_is_recorded(flow_env, tmp_path, prefect_api, sig, code):
    ws, _, _ = flow_env
    name = f"irq-{sig.name.lower()}"
    key = f"prod/{name}"
    add_manifest(ws, key, name)
    src = _module(tmp_path / "m", name, "v1")
    env = {**ws.env, "PREFECT_API_URL": prefect_api, "COLUMNS": "300"}
    proc = subprocess.Popen([*AS_A_TERMINAL_STARTS_IT, WASMOPS, "release", str(src), "--target", key, "--no-ai-check"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    try:
        q = lines(proc)
        until(q, r"waiting for approval", seen)
        proc.send_signal(sig)
        assert proc.wait(timeout=180) == code, "".join(seen)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(seen) + "".join(iter(lambda: q.get(timeout=10) or "", ""))
    [d] = _records(ws, key)
    assert (d.data["step"], d.data["signal"]) == ("approval", sig.name), (d, out)
    assert d.data["git_digest_now"] == ""
    assert any(u.startswith("Git: the release commit") for u in d.data["rolled_back"]), d
    assert d.digest and d.digest == d.data["manifest_digest"]
    assert _committed(ws, d)
    listed = subprocess.run([WASMOPS, "decisions", "--module", key, "--kind", "release"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert d.id in listed.stdout and "interrupted" in listed.stdout, listed.stdout + listed.stderr
