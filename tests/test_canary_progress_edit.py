"""A canary step's progress is written into the manifest in place: an operator's comments, key order
and flow-style steps survive (found from outside: the round trip through yaml.safe_dump dropped the
comments and restyled the steps). The manifest is written here by hand, as a person would."""

from __future__ import annotations

import subprocess

import yaml

from support.host import make_workspace

MANIFEST = """\
# owner: core team (pager: core-oncall)
apiVersion: wasmops.dev/v1alpha1
kind: WasmModuleDeployment
metadata:
  name: canmod
  namespace: dev
  labels: {team: core, project: "p"}
spec:
  replicas: 1   # keep at 1: INC-4711
  moduleRef: {repository: wasmops/canmod, tag: v1, digest: "sha256:%s"}
  rollout:
    strategy: canary
    steps:
      - {weight: 20, pause: 20s}
      - {weight: 100}
""" % ("a" * 64)


def test_progress_keeps_comments_and_style(tmp_path, monkeypatch):
    from tasks.canary import write_progress

    ws = make_workspace(tmp_path / "ws")
    monkeypatch.setenv("WASMOPS_HOME", str(ws.home))
    repo = ws.settings.gitops_dir
    (repo / "modules/dev/canmod.yaml").write_text(MANIFEST)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=ann", "-c", "user.email=a@example.com", "commit", "-qm",
                    "canmod by hand"], check=True)

    stable = {"tag": "v0", "digest": "sha256:" + "b" * 64}
    assert write_progress("dev/canmod", {"stable": stable, "step": 0, "weight": 20}, "canary step 0")
    text = (repo / "modules/dev/canmod.yaml").read_text()
    for kept in ("# owner: core team (pager: core-oncall)", "# keep at 1: INC-4711", "- {weight: 20, pause: 20s}",
                 'project: "p"'):
        assert kept in text, text
    assert "inProgress:" in text and "b" * 64 in text

    assert write_progress("dev/canmod", None, "canary done")
    after = (repo / "modules/dev/canmod.yaml").read_text()
    assert "# keep at 1: INC-4711" in after and "inProgress" not in after
    assert yaml.safe_load(after) == yaml.safe_load(MANIFEST)
