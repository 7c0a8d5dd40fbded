"""`wasmops render kubernetes` renders what is approved: a module whose release awaits approval is
rendered at its last approved digest from Git history (or skipped when it has none), with a note."""

from __future__ import annotations

import hashlib

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from wasmops.config import Settings
from wasmops.gitops.approved import approved_module_ref
from wasmops.gitops.render import render
from wasmops.gitops.repo import GitOpsRepo
from wasmops.gitops.repo_init import init_repo

KEY, REL = "dev/sum-wat", "modules/dev/sum-wat.yaml"


def _digest(salt: int, i: int) -> str:
    return "sha256:" + hashlib.sha256(f"{salt}/{i}".encode()).hexdigest()


def _play(repo: GitOpsRepo, events: list[str], salt: int) -> tuple[str | None, str | None]:
    """Apply release events; return (the approved digest, the newest digest in Git)."""
    approved = newest = None
    for i, ev in enumerate(events):
        if ev == "approve":
            repo.clear_awaiting(KEY, reason="ok", actor="fin")
            approved = newest
            continue
        newest = _digest(salt, i)
        repo.set_module_ref(KEY, tag=f"v{i}", digest=newest, provenance={},
                            awaiting=f"run-{i}" if ev == "await" else None)
        if ev == "plain":        # a release that needs no person clears a stale mark (as the flow does)
            repo.clear_awaiting(KEY, reason="no approval needed", actor="wasmops")
            approved = newest
    return approved, newest


def _rendered_digest(r, key: str) -> str | None:
    ns, name = key.split("/")
    docs = [d for d in r.docs if d["kind"] == "Deployment" and d["metadata"]["namespace"] == ns
            and d["metadata"]["name"] == name]
    return docs[0]["metadata"]["annotations"]["wasmops.dev/digest"] if docs else None


@settings(max_examples=15)
@given(events=st.lists(st.sampled_from(["plain", "await", "approve"]), min_size=1, max_size=5),
       salt=st.integers(0, 10**9))
def test_only_the_approved_digest_is_rendered(tmp_path_factory, events, salt):
    repo = GitOpsRepo.open(init_repo(Settings(home=tmp_path_factory.mktemp("ws"))))
    approved, newest = _play(repo, events, salt)
    desired = repo.desired()
    r = render(desired, registry="oci://ghcr.io/acme", approved_ref=lambda rel: approved_module_ref(repo.path, rel))
    got = _rendered_digest(r, KEY)
    assert got == approved, (events, got, approved, newest)
    awaiting = desired.deployments[KEY].awaiting_approval
    if awaiting and approved:
        assert [h.key for h in r.held] == [KEY] and newest in r.held[0].reason and approved in r.held[0].reason
    elif awaiting:
        assert any(s.key == KEY and "awaiting approval" in s.reason for s in r.skipped)
    else:
        assert not r.held
    text = "\n".join(r.comments())
    assert ("wasmops.dev/awaiting-approval" not in yaml.safe_dump_all(r.docs)) and (bool(r.held) == ("held" in text))


def test_cli_renders_the_approved_digest_and_says_so_on_stderr(tmp_path, monkeypatch):
    from wasmops.cli import app

    monkeypatch.setenv("WASMOPS_HOME", str(tmp_path / "ws"))
    assert CliRunner().invoke(app, ["init"]).exit_code == 0
    repo = GitOpsRepo.from_settings(Settings())
    old, new = _digest(1, 1), _digest(1, 2)
    repo.set_module_ref(KEY, tag="v1", digest=old, provenance={})
    repo.set_module_ref(KEY, tag="v2", digest=new, provenance={}, awaiting="run-42")
    r = CliRunner().invoke(app, ["render", "kubernetes"])
    assert r.exit_code == 0, r.output
    assert old in r.stdout and new not in r.stdout.replace(f"{new} awaits", "")
    assert f"held {KEY}" in r.stderr and new in r.stderr and "run-42" in r.stderr
