"""`wasmops status` names the committed GitOps files that do not load.

Found from outside: with a field typo in one manifest and a duplicate key in another, committed by
hand, `status` listed every module as Healthy and exited 0; only `reconcile` said "2 broken
manifest(s)". The files here are edited the way a person edits them: a copy of a shipped manifest
with one line changed, committed with git.
"""

from __future__ import annotations

import json
import os
import subprocess

from support.host import WASMOPS


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_status_lists_broken_files_by_file_and_field(tmp_path):
    from wasmops.config import Settings
    from wasmops.workspace import init_workspace

    s = Settings(home=tmp_path / "ws")
    init_workspace(s)
    repo = s.gitops_dir
    good = (repo / "modules/dev/sum-wat.yaml").read_text()
    (repo / "modules/dev/sum-wat.yaml").write_text(good.replace("replicas:", "replicaz:"))
    greet = (repo / "modules/dev/greet-c.yaml").read_text()
    (repo / "modules/dev/greet-c.yaml").write_text(greet.replace("  replicas: 1\n", "  replicas: 1\n  replicas: 2\n"))
    _git(repo, "-c", "user.name=ann", "-c", "user.email=ann@example.com", "commit", "-qam", "by hand")
    env = {**os.environ, "WASMOPS_HOME": str(s.home), "COLUMNS": "200", "WASMOPS_HOST_URL": "http://127.0.0.1:9"}

    p = subprocess.run([WASMOPS, "status", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    broken = {b["file"]: b["problem"] for b in json.loads(p.stdout)["broken_files"]}
    assert set(broken) == {"modules/dev/sum-wat.yaml", "modules/dev/greet-c.yaml"}, broken
    assert "spec.replicaz" in broken["modules/dev/sum-wat.yaml"]
    assert "replicas" in broken["modules/dev/greet-c.yaml"]

    p = subprocess.run([WASMOPS, "status"], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "broken files in Git" in p.stdout and "modules/dev/sum-wat.yaml" in p.stdout, p.stdout


def test_status_of_a_clean_repo_lists_no_broken_file(tmp_path):
    from wasmops.config import Settings
    from wasmops.workspace import init_workspace

    s = Settings(home=tmp_path / "ws")
    init_workspace(s)
    env = {**os.environ, "WASMOPS_HOME": str(s.home), "WASMOPS_HOST_URL": "http://127.0.0.1:9"}
    p = subprocess.run([WASMOPS, "status", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and json.loads(p.stdout)["broken_files"] == [], p.stdout + p.stderr


def test_status_lists_a_canary_step_that_failed_or_held(tmp_path):
    """Found from outside: after a canary was aborted and quarantined, status's "last AI verdicts"
    listed only anomaly holds."""
    from wasmops.config import Settings
    from wasmops.gitops.decisions import Decision, record
    from wasmops.workspace import init_workspace

    s = Settings(home=tmp_path / "ws")
    init_workspace(s)
    for verdict, why in (("pass", "step 0 fine"), ("fail", "fuel_per_call +400 %"), ("hold", "not yet significant")):
        record(s.gitops_dir, Decision(kind="canary-step", subject="dev/canmod", verdict=verdict, explanation=why,
                                      digest="sha256:" + "c" * 64))
    env = {**os.environ, "WASMOPS_HOME": str(s.home), "WASMOPS_HOST_URL": "http://127.0.0.1:9"}
    p = subprocess.run([WASMOPS, "status", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    shown = {(v["kind"], v["verdict"]) for v in json.loads(p.stdout)["verdicts"]}
    assert shown == {("canary-step", "fail"), ("canary-step", "hold")}, shown
