"""A rollback's warning about other targets pinning the same digest says what happens to each of
them by its environment (found from outside: rolling back dev/greet-c, with prod/greet-c pinning the
same bytes, said "the quarantine stops it in dev at the next reconcile" about a dev target the
rollback itself had just removed). On a real GitOps repo made by `init_repo`."""

from __future__ import annotations

import tempfile

from hypothesis import given, settings, strategies as st

from wasmops.config import Settings
from wasmops.gitops.repo import GitOpsRepo
from wasmops.gitops.repo_init import init_repo
from wasmops.release.rollback import pinned_elsewhere, pinned_warning

D = "sha256:" + "5e" * 32


def _repo_pinning(keys) -> GitOpsRepo:
    repo = GitOpsRepo.open(init_repo(Settings(home=tempfile.mkdtemp())))
    for key in keys:
        repo.set_module_ref(key, tag="v1", digest=D, provenance={})
    return repo


def test_prod_pinning_the_rolled_back_dev_digest_is_kept_and_said_so():
    repo = _repo_pinning(["dev/greet-c", "prod/greet-c"])
    others = pinned_elsewhere(repo, "dev/greet-c", {D})
    text = pinned_warning(repo, others)
    assert others == ["prod/greet-c"]
    assert "prod/greet-c keeps serving it until you roll it back there" in text
    assert "dev" not in text.split(":", 1)[1].replace("prod/greet-c", "")      # nothing said of a dev target


def test_dev_pinning_a_rolled_back_prod_digest_stops():
    repo = _repo_pinning(["dev/greet-c", "prod/greet-c", "dev/sum-wat"])
    text = pinned_warning(repo, pinned_elsewhere(repo, "prod/greet-c", {D}))
    assert "dev/greet-c, dev/sum-wat stop serving it at their next reconcile" in text
    assert "keeps serving" not in text


@settings(max_examples=10, deadline=None)
@given(st.sets(st.sampled_from(["dev/greet-c", "dev/sum-wat", "dev/upper-zig", "prod/greet-c"]), min_size=1))
def test_every_other_target_is_named_once_with_its_fate(pinning):
    repo = _repo_pinning(sorted(pinning))
    rolled = sorted(pinning)[0]
    others = pinned_elsewhere(repo, rolled, {D})
    text = pinned_warning(repo, others)
    assert others == sorted(pinning - {rolled})
    clauses = text.split(": ", 1)[1].split("; ") if text else []
    for k in others:
        (clause,) = [c for c in clauses if k in c]                 # named once, in one clause
        assert (" keep" in clause) == k.startswith("prod/") and (" stop" in clause) != k.startswith("prod/")
    assert (text == "") == (not others)
