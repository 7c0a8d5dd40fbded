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
