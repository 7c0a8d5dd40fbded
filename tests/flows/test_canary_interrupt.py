"""Ctrl-C in the middle of a canary step: the release transaction reverts Git, and the host must drop
the unjudged canary too (found from outside, 2026-12-07: after Ctrl-C at step 0 of 20 % Git was
reverted and `wasmops status` said "not in Git: stable 80 % / canary 20 %"; nothing removed it).
The module is written here: a WAT command echoing a version byte, with its own module.yaml."""

from __future__ import annotations

import pytest
import yaml

from support.gitops_helpers import add_manifest

WAT = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "%s\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 2))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"""


def _module(d, version: str):
    d.mkdir(parents=True, exist_ok=True)
    (d / "v.wat").write_text(WAT % version)
    (d / "module.yaml").write_text("name: verecho\nlanguage: wat\nsources: [v.wat]\n"
                                   "limits: {fuel: 1000000, memory: 1Mi, timeout_ms: 500}\n"
                                   f"tests:\n  - {{name: says, stdin: 'q', expect_stdout_contains: '{version}'}}\n")
    return d


def test_ctrl_c_mid_canary_step_leaves_the_host_on_stable_alone(flow_env, tmp_path, monkeypatch):
    import wasmops.ai.release_check as rc
    from flows.release import release
    from wasmops.gitops.repo import GitOpsRepo

    ws, host, _ = flow_env
    key = "dev/verecho"
    add_manifest(ws, key, "verecho")
    repo = GitOpsRepo.from_settings(ws.settings)
    p = repo.manifest_file(key)
    doc = yaml.safe_load(p.read_text())
    doc["spec"]["rollout"] = {"strategy": "canary", "steps": [{"weight": 30, "pause": "1s"}, {"weight": 100}]}
    repo.write_files({str(p.relative_to(repo.path)): yaml.safe_dump(doc, sort_keys=False)}, f"canary {key}")
    src = _module(tmp_path / "verecho", "A")
    v1 = release(module_dir=str(src), target=key, auto_approve=True, ai_check=False)
    _module(src, "B")

    def interrupted(*a, **kw):                       # the person presses Ctrl-C while the step samples
        live = {m["name"]: m for m in host.modules()}["verecho"]
        assert "canary" in live                      # the split is on the host when the interrupt lands
        raise KeyboardInterrupt

    monkeypatch.setattr(rc, "judge_interleaved", interrupted)
    with pytest.raises(KeyboardInterrupt):
        release(module_dir=str(src), target=key, auto_approve=True)
    live = {m["name"]: m for m in host.modules()}["verecho"]
    assert live["digest"] == v1["manifest_digest"] and "canary" not in live, live
    desired = GitOpsRepo.from_settings(ws.settings).desired().deployments[key]
    assert desired.spec.module_ref.digest == v1["manifest_digest"]
    from wasmops.gitops.decisions import list_decisions

    [d] = list_decisions(ws.settings.gitops_dir, subject=key, kind="release")     # the interrupt is on record
    assert (d.verdict, d.data["step"]) == ("interrupted", "canary-step"), d
    assert "host: canary dropped, stable serves alone" in d.data["rolled_back"], d
