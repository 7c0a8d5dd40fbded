"""A stranger's module through the whole spine: written here from scratch in C with an error-exit
case, onboarded with `add`, released, verified through the real host, re-released (no commit),
drifted, healed and rolled back. And the policy in Git is the one source for both the release's
policy step and host admission."""

from __future__ import annotations

import base64
import textwrap

import git
import pytest
import yaml

VOWELS_C = textwrap.dedent(r"""
    #include <stdio.h>
    #include <string.h>
    int main(void) {
        int c, n = 0, seen = 0;
        while ((c = getchar()) != EOF) { seen++; if (c && strchr("aeiouAEIOU", c)) n++; }
        if (!seen) { puts("{\"error\": \"nothing to count\"}"); fputs("vowels: empty stdin\n", stderr); return 2; }
        printf("{\"vowels\": %d}\n", n);
        return 0;
    }
""")
VOWELS_YAML = textwrap.dedent("""
    name: vowels
    language: c
    sources: [vowels.c]
    limits: {fuel: 10000000, memory: 4Mi, timeout_ms: 1000}
    tests:
      - {name: counts, stdin: 'banana split', expect_stdout: '{"vowels": 4}'}
      - {name: empty-is-an-error, stdin: '', expect_exit: 2, expect_stdout_contains: 'nothing to count'}
      - {name: needs-other-env, stdin: 'x', env: {MODE: loud}, expect_stdout: '{"vowels": 0}'}
""")


@pytest.fixture(scope="module")
def vowels(flow_env, tmp_path_factory):
    d = tmp_path_factory.mktemp("stranger") / "vowels"
    d.mkdir()
    (d / "vowels.c").write_text(VOWELS_C)
    (d / "module.yaml").write_text(VOWELS_YAML)
    return d


def _commits(ws) -> int:
    return len(list(git.Repo(ws.settings.gitops_dir).iter_commits()))


def test_strangers_module_with_error_exit_case_is_released_and_serving(flow_env, vowels):
    from flows.release import release
    from wasmops.gitops.decisions import list_decisions
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.onboard import Target, add_deployment

    ws, host, _ = flow_env
    repo = GitOpsRepo.from_settings(ws.settings)
    add_deployment(repo, vowels, Target("dev", "vowels"), team="qa", project="stranger")
    res = release(module_dir=str(vowels), target="dev/vowels", auto_approve=True, ai_check=False)
    assert res["verify"] == {"passed": True, "ran": 2, "not_run": 1, "summary": "2/2 passed, 1 not run"}
    [d] = list_decisions(ws.settings.gitops_dir, subject="dev/vowels", kind="verify")
    assert d.verdict == "pass" and "not run: env differs (MODE)" in d.explanation
    r = host.run("dev", "vowels", b"")
    assert r.status_code == 502 and r.json() == {"error": "nothing to count"}
    assert r.headers["x-wasmops-exit-code"] == "2"
    assert base64.b64decode(r.headers["x-wasmops-stderr"]) == b"vowels: empty stdin\n"
    assert host.run("dev", "vowels", b"aeiou").json() == {"vowels": 5}

    before = _commits(ws)
    again = release(module_dir=str(vowels), target="dev/vowels", auto_approve=True, ai_check=False)
    assert again["noop"] is True and again["manifest_digest"] == res["manifest_digest"]
    assert _commits(ws) == before  # a re-release adds no commit


def test_drift_heal_and_rollback_work_on_it(flow_env, vowels):
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.gitops.reconcile import reconcile
    from wasmops.release.rollback import rollback

    ws, host, _ = flow_env
    repo = GitOpsRepo.from_settings(ws.settings)
    released = repo.desired().deployments["dev/vowels"].spec.module_ref.digest
    host.delete("dev", "vowels")  # drift: someone removed it by hand
    rep = reconcile(repo.desired(), host, registry=ws.settings.registry_base, mode="heal", namespaces={"dev"})
    assert any(d.key == "dev/vowels" for d in rep.drift)
    assert {m["name"]: m["digest"] for m in host.modules()}["vowels"] == released
    out = rollback(ws.settings, "dev/vowels", reason="test rollback", actor="qa")
    assert out["converged"] and out["restored_digest"] is None
    assert "vowels" not in {m["name"] for m in host.modules()}


def test_policy_in_git_is_the_one_source_for_release_and_admission(flow_env, vowels, tmp_path):
    from flows.release import release
    from wasmops.errors import PolicyDenied
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.onboard import Target, add_deployment

    ws, host, mods = flow_env
    repo = GitOpsRepo.from_settings(ws.settings)
    rel = "policies/module-policy.yaml"
    original = (repo.path / rel).read_text()
    strict = yaml.safe_load(original)
    strict["spec"]["trustLevels"]["sandboxed"]["maxSize"] = 64  # bytes: nothing real fits
    add_deployment(repo, mods / "sum-wat", Target("dev", "sum-policy"), team="qa", project="policy")
    ref, digest = _published_sum(ws)
    repo.write_files({rel: yaml.safe_dump(strict, sort_keys=False)}, "policy: tiny modules only")
    try:
        before = _commits(ws)
        with pytest.raises(PolicyDenied, match="size"):
            release(module_dir=str(mods / "sum-wat"), target="dev/sum-policy", auto_approve=True, ai_check=False)
        assert _commits(ws) == before  # refused at the policy step: nothing committed
        with pytest.raises(Exception, match="size"):
            host.deploy("dev", "sum-policy", ref=ref, digest=digest, labels={"team": "qa", "project": "p"})
    finally:
        repo.write_files({rel: original}, "policy: back to the default")
    assert host.deploy("dev", "sum-policy", ref=ref, digest=digest,
                       labels={"team": "qa", "project": "p"})["changed"] is True


def _published_sum(ws):
    import wasmtime

    from support.host import REPO

    return ws.publish_wasm("sum-policy", wasmtime.wat2wasm((REPO / "examples" / "sum-wat" / "sum.wat").read_text()))


def test_the_same_module_released_to_a_second_target_serves_there_too(flow_env, tmp_path):
    """Released to dev/vowels-eu, then to dev/vowels-us: the second publish's cache key differed only
    in its ref, and ``..`` in the module's source path folded both keys into one stored result, so
    the second target read the first's publish and its reconcile was refused."""
    from flows.release import release
    from tasks.supply import cache_key
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.onboard import Target, add_deployment

    ws, host, _ = flow_env
    repo = GitOpsRepo.from_settings(ws.settings)
    vowels = tmp_path / "vowels-y"         # not the module the tests above rolled back (its digest is quarantined)
    vowels.mkdir()
    (vowels / "vowels.c").write_text(VOWELS_C.replace("aeiouAEIOU", "aeiouyAEIOUY"))
    (vowels / "module.yaml").write_text(VOWELS_YAML)
    for name in ("vowels-eu", "vowels-us"):
        add_deployment(repo, vowels, Target("dev", name), team="qa", project="stranger")
        res = release(module_dir=str(vowels), target=f"dev/{name}", auto_approve=True, ai_check=False)
        assert res["verify"]["passed"] is True
    assert host.run("dev", "vowels-eu", b"aeiou").json() == host.run("dev", "vowels-us", b"aeiou").json() \
        == {"vowels": 5}
    assert cache_key("publish", "d", "oci:a", "../../x") != cache_key("publish", "d", "oci:b", "../../x")
    assert "/" not in cache_key("publish", "oci-layout:///a/b", "../..")
