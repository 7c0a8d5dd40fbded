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


def test_one_runs_verdict_on_several_digests_is_one_row_naming_them(tmp_path):
    """Found from outside (npm modules, 2026-12-07): after a few releases one score run recorded the same
    hold for each digest that served in its window, and status printed that row five times, naming no
    digest. A row is now one run's verdict on a module, with the digests it covers."""
    from hypothesis import given, settings, strategies as st

    from wasmops.cli._status_verdicts import verdict_rows
    from wasmops.config import Settings
    from wasmops.gitops.decisions import Decision, record
    from wasmops.workspace import init_workspace

    digests = st.lists(st.text("0123456789abcdef", min_size=64, max_size=64).map("sha256:".__add__),
                       min_size=1, max_size=6, unique=True)

    @settings(max_examples=30, deadline=None)
    @given(st.lists(st.tuples(st.sampled_from(["r1", "r2", "r3"]), st.sampled_from(["dev/a", "dev/b"]),
                              st.sampled_from(["hold", "ok"]), digests), max_size=6))
    def grouped(runs):
        ds = [Decision(kind="anomaly", subject=m, verdict=v, explanation="x", digest=d, flow_run_id=r)
              for r, m, v, ds_ in runs for d in ds_][::-1]
        rows = verdict_rows(ds, limit=100)
        assert len(rows) == len({(r, m, v) for r, m, v, _ in runs})
        assert all(len(row["digests"]) == len(set(row["digests"])) for row in rows)   # a digest once per row
        covered = {(row["subject"], row["verdict"], d) for row in rows for d in row["digests"]}
        assert covered == {(m, v, d) for _, m, v, ds_ in runs for d in ds_}
    grouped()

    s = Settings(home=tmp_path / "ws")
    init_workspace(s)
    many = [f"sha256:{c * 64}" for c in "abcde"]
    for d in many:
        record(s.gitops_dir, Decision(kind="anomaly", subject="dev/m", verdict="hold", digest=d, flow_run_id="run-1",
                                      explanation="no champion anomaly model is registered yet"))
    env = {**os.environ, "WASMOPS_HOME": str(s.home), "WASMOPS_HOST_URL": "http://127.0.0.1:9", "COLUMNS": "200"}
    p = subprocess.run([WASMOPS, "status", "--json"], env=env, capture_output=True, text=True, timeout=120)
    rows = json.loads(p.stdout)["verdicts"]
    assert len(rows) == 1 and sorted(rows[0]["digests"]) == many, rows
    table = subprocess.run([WASMOPS, "status"], env=env, capture_output=True, text=True, timeout=120).stdout
    assert table.count("no champion anomaly model") == 1 and "+4" in table, table
