"""A lifted quarantine is a decision record, however it was lifted: a hand edit of quarantine.yaml
in Git (found from outside: it left no record) or `wasmops quarantine remove`. On a real GitOps
repo made by `init_repo`, with commits by other authors written in the test."""

from __future__ import annotations

import subprocess
import tempfile

from hypothesis import given, settings, strategies as st

from wasmops.config import Settings
from wasmops.gitops import quarantine as q
from wasmops.gitops.decisions import list_decisions
from wasmops.gitops.quarantine_audit import record_lifts
from wasmops.gitops.repo import GitOpsRepo
from wasmops.gitops.repo_init import init_repo


def _repo() -> GitOpsRepo:
    return GitOpsRepo.open(init_repo(Settings(home=tempfile.mkdtemp())))


def _digest(i: int) -> str:
    return "sha256:" + f"{i:02x}" * 32


def _hand_commit(repo: GitOpsRepo, message: str, who: str = "Dana Ops") -> None:
    subprocess.run(["git", "-c", f"user.name={who}", "-c", "user.email=dana@example.org", "-c", "commit.gpgsign=false",
                    "commit", "-qam", message], cwd=repo.path, check=True)


def _quarantine(repo: GitOpsRepo, i: int, reason: str = "verify failed") -> None:
    q.add(repo.path / q.FILE, _digest(i), module=f"dev/m{i}", reason=reason, kind="manifest")
    subprocess.run(["git", "add", q.FILE], cwd=repo.path, check=True)
    _hand_commit(repo, f"quarantine m{i}", who="wasmops")


def _hand_lift(repo: GitOpsRepo, i: int, message: str) -> None:
    q.remove(repo.path / q.FILE, _digest(i))
    _hand_commit(repo, message)


def test_a_hand_edit_is_recorded_once_with_its_author_and_message():
    repo = _repo()
    _quarantine(repo, 1, reason="error rate x30 after release")
    _quarantine(repo, 2)
    _hand_lift(repo, 1, "let m1 back\n\nthe errors came from a bad upstream, fixed in INC-42")
    new = record_lifts(repo.path)
    assert [(d.kind, d.verdict, d.subject, d.digest) for d in new] == [("quarantine", "lifted", "dev/m1", _digest(1))]
    d = new[0]
    assert d.actor == "Dana Ops <dana@example.org>" and d.inputs["by_hand"] is True
    assert "hand edit" in d.explanation and "INC-42" in d.explanation and "error rate x30" in d.explanation
    assert record_lifts(repo.path) == []                       # idempotent
    assert len(list_decisions(repo.path, kind="quarantine")) == 1


def test_quarantine_remove_is_recorded_with_its_actor_and_reason():
    repo = _repo()
    _quarantine(repo, 3)
    repo.unquarantine(_digest(3), actor="ann", reason="rebuilt from a clean tree")
    (d,) = record_lifts(repo.path)
    assert d.actor == "ann" and d.inputs["by_hand"] is False
    assert "wasmops quarantine remove" in d.explanation and "rebuilt from a clean tree" in d.explanation


def test_a_broken_version_of_the_file_lifts_nothing():
    repo = _repo()
    _quarantine(repo, 4)
    (repo.path / q.FILE).write_text("entries: [unclosed\n")
    _hand_commit(repo, "oops")
    assert record_lifts(repo.path) == []
    (repo.path / q.FILE).write_text("entries: []\n")       # fixed, and m4 is off the list now
    _hand_commit(repo, "fix the file, let m4 back")
    assert [d.digest for d in record_lifts(repo.path)] == [_digest(4)]


@settings(max_examples=8, deadline=None)
@given(ops=st.lists(st.tuples(st.booleans(), st.integers(0, 4)), min_size=1, max_size=8))
def test_one_record_per_removal(ops):
    """Any sequence of quarantines and hand lifts: as many records as digests taken off the list."""
    repo = _repo()
    on, removals = set(), 0
    for add, i in ops:
        if add and i not in on:
            _quarantine(repo, i)
            on.add(i)
        elif not add and i in on:
            _hand_lift(repo, i, f"lift m{i}")
            on.discard(i)
            removals += 1
    assert len(record_lifts(repo.path)) == removals
    assert len(list_decisions(repo.path, kind="quarantine")) == removals


def test_the_cli_records_what_it_lifts(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from wasmops.cli import app
    from wasmops.config import current

    monkeypatch.setenv("WASMOPS_HOME", str(tmp_path / "ws"))
    monkeypatch.setenv("COLUMNS", "200")
    run = CliRunner()
    assert run.invoke(app, ["init"]).exit_code == 0
    repo = GitOpsRepo.from_settings(current())
    _quarantine(repo, 7, reason="p95 latency x3")
    r = run.invoke(app, ["quarantine", "remove", _digest(7), "--reason", "the slow path is gone", "--actor", "lee"])
    assert r.exit_code == 0, r.output
    assert "recorded dec-" in r.output and "the slow path is gone" in r.output
    (d,) = list_decisions(repo.path, kind="quarantine")
    assert (d.actor, d.subject, d.digest) == ("lee", "dev/m7", _digest(7))


def test_a_pass_with_no_new_quarantine_commit_reads_no_decision(monkeypatch):
    """Every reconcile pass calls it: with no commit of quarantine.yaml since the last audit, it does not
    read the decision records (a month of score verdicts is thousands of files)."""
    import wasmops.gitops.quarantine_audit as qa

    repo = _repo()
    _quarantine(repo, 8)
    _hand_lift(repo, 8, "let m8 back")
    assert len(record_lifts(repo.path)) == 1
    monkeypatch.setattr(qa, "list_decisions", lambda *a, **k: (_ for _ in ()).throw(AssertionError("read")))
    assert record_lifts(repo.path) == []
    monkeypatch.undo()
    _quarantine(repo, 9)
    _hand_lift(repo, 9, "let m9 back")
    assert [d.digest for d in record_lifts(repo.path)] == [_digest(9)]
