"""A workspace written by an older wasmops, read by today's. Each input here is a file in the shape an
older version wrote (copied from a real workspace it made, reduced), never that version itself."""

from __future__ import annotations

import pytest

from support.cli_ws import make_cli_workspace

# `wasmops add echo --target prod/echo --team core --project util` at 3801d4d (2026-11-27): environment
# dev in the namespace prod, and no wasmops.dev/module label. The old `add` then printed
# `next: wasmops release echo --target prod/echo --auto-approve`.
OLD_PROD_MANIFEST = """\
apiVersion: wasmops.dev/v1alpha1
kind: WasmModuleDeployment
metadata:
  name: echo
  namespace: prod
  labels:
    team: core
    project: util
  annotations: {}
spec:
  environment: dev
  replicas: 1
  moduleRef:
    repository: wasmops/echo
    tag: unreleased
  runtimeConfig:
    resources:
      cpu: 20m
      memory: 8Mi
    env: {}
    trustLevel: sandboxed
    timeoutMs: 1000
    maxStdout: 64Ki
  policies: []
  source: ../../echo
  verify:
    allowUnverified: false
"""


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return make_cli_workspace(tmp_path_factory)


def _commit(ws, rel: str, text: str) -> None:
    from wasmops.config import Settings
    from wasmops.gitops.repo import GitOpsRepo

    GitOpsRepo.from_settings(Settings(home=ws.home)).write_files({rel: text}, f"old wasmops wrote {rel}")


def test_a_prod_module_an_old_add_made_dev_is_noted_at_release(ws):
    """The manifest says dev, so a release is still not asked for approval (it may be meant: `add --env
    dev`), but every release says so, with the file, the field and the fix."""
    from wasmops.config import Settings
    from wasmops.onboard import preflight

    ws("new", "echo", "--language", "wat", check=0)
    _commit(ws, "modules/prod/echo.yaml", OLD_PROD_MANIFEST)
    pre = preflight(Settings(home=ws.home), ws.cwd / "echo", "prod/echo", auto_approve=True)
    assert pre.manifest.spec.environment == "dev"           # read as written: nothing changed behind a person
    manifest = ws.home / "gitops" / "modules" / "prod" / "echo.yaml"
    assert len(pre.notes) == 1, pre.notes
    note = pre.notes[0]
    assert f"({manifest}: spec.environment)" in note and "not asked for approval" in note, note
    assert "set `environment: prod` there and commit it" in note, note


def test_a_dev_module_or_a_prod_one_gets_no_note(ws):
    from wasmops.config import Settings
    from wasmops.onboard import preflight

    ws("new", "echo", "--language", "wat")
    for key, env in (("dev/echo", "dev"), ("prod-eu/echo", "prod")):
        ns = key.split("/")[0]
        text = OLD_PROD_MANIFEST.replace("namespace: prod", f"namespace: {ns}").replace(
            "environment: dev", f"environment: {env}")
        _commit(ws, f"modules/{key}.yaml", text)
        pre = preflight(Settings(home=ws.home), ws.cwd / "echo", key, auto_approve=env == "dev")
        assert pre.notes == (), (key, pre.notes)


# A release verdict the Mann-Whitney judge wrote at 3801d4d (2026-11-27), reduced: it passed, so the digest
# is the one the module serves, and nothing was quarantined.
OLD_PASS_VERDICT = {
    "action": "none", "actor": "wasmops", "at": "2026-12-07T12:09:55.714+00:00",
    "data": {"baseline_digest": "sha256:" + "01" * 32, "requests": 60},
    "digest": "sha256:" + "de" * 32, "explanation": "4 metric rows, none regressed (score 100)",
    "flow_run_id": "42fab884-692c-45e3-9342-9711e95677b2", "id": "dec-20261207T120955-d3a4aa70",
    "inputs": {}, "kind": "release-verdict", "model": {"name": "release-judge", "version": "mann-whitney-1"},
    "output": {"metrics": [{"metric": "fuel_per_call", "classification": "Pass", "n_baseline": 60,
                            "n_canary": 60, "test": "mann-whitney", "reason": "no significant change"}]},
    "policy_rule": "policies/release-judge.yaml (Mann-Whitney U + effect floor)",
    "subject": "dev/wordstat", "verdict": "pass",
}


@pytest.mark.parametrize("verdict,lift", [("pass", False), ("hold", False), ("fail", True)])
def test_labelling_a_release_verdict_suggests_lifting_a_quarantine_only_after_a_fail(ws, verdict, lift):
    """`decisions label` on an old pass verdict said 'lift its quarantine: wasmops quarantine remove
    <the digest the module serves>': a pass or a hold quarantined nothing."""
    import json

    from wasmops.gitops.decisions import label_decision

    rec = {**OLD_PASS_VERDICT, "verdict": verdict, "id": f"dec-20261207T120955-{verdict}0000"[:28]}
    _commit(ws, f"audit/decisions/2026-12-07/{rec['id']}.json", json.dumps(rec, indent=2))
    with pytest.raises(ValueError) as e:
        label_decision(ws.home / "gitops", rec["id"], correct=True)
    assert "only model verdicts can be labelled" in str(e.value)
    assert ("wasmops quarantine remove " + rec["digest"] in str(e.value)) == lift, str(e.value)


# The tags a release run carried at b7e2117 (2026-12-06), read from its Prefect database: no owner tag.
OLD_RUN_TAGS = ["env:prod", "module:prod/echo", "team:core"]


def test_a_paused_run_an_old_wasmops_started_is_listed_with_what_an_answer_may_not_do(prefect_api):
    """A prod release paused for approval, killed (or stopped for the upgrade) before 2026-12-07: its run
    stays Paused with no owner tag, `approvals` listed it like any other and `approve` said 'approved'
    while nothing would act on it. Now the listing and the answer say so, and how to get past it; a run
    whose process is recorded gets no such note."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Paused

    from flows._owner import owner_tag
    from flows.ops import owner_note, pending_approvals

    @flow(name="release")
    def release():
        pass

    with get_client(sync_client=True) as client:
        old = client.create_flow_run(release, tags=OLD_RUN_TAGS, state=Paused(timeout_seconds=3600, pause_key="a"))
        new = client.create_flow_run(release, tags=[*OLD_RUN_TAGS, owner_tag()],
                                     state=Paused(timeout_seconds=3600, pause_key="a"))
    listed = {r["id"]: r for r in pending_approvals()}
    note = listed[str(old.id)]["owner_unknown"]
    assert note and "older than 2026-12-07" in note and "`wasmops release` the module again" in note, note
    assert listed[str(old.id)]["tags"] == OLD_RUN_TAGS
    assert listed[str(new.id)]["owner_unknown"] is None
    assert owner_note(str(old.id)) == note and owner_note(str(new.id)) is None
