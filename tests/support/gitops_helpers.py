"""Helpers for tests that change the GitOps repo."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml


def add_manifest(ws, key: str, source: str, env: dict | None = None, environment: str | None = None,
                 team: str = "qa", replicas: int = 1, memory: str = "8Mi") -> None:
    """Add a WasmModuleDeployment to the workspace's GitOps repo (committed)."""
    from wasmops.gitops.repo import GitOpsRepo

    ns, name = key.split("/", 1)
    doc = {"apiVersion": "wasmops.dev/v1alpha1", "kind": "WasmModuleDeployment",
           "metadata": {"name": name, "namespace": ns, "labels": {"team": team, "project": "flows"}},
           "spec": {"environment": environment or ("prod" if ns == "prod" else "dev"), "replicas": replicas,
                    "source": source, "moduleRef": {"repository": f"wasmops/{name}", "tag": "unreleased"},
                    "runtimeConfig": {"resources": {"cpu": "50m", "memory": memory}, "env": env or {},
                                      "trustLevel": "sandboxed", "timeoutMs": 1000}}}
    repo = GitOpsRepo.from_settings(ws.settings)
    repo.write_files({f"modules/{ns}/{name}.yaml": yaml.safe_dump(doc, sort_keys=False)}, f"add {key}")


def release_commits(ws, key: str) -> list[str]:
    import git

    return [c.hexsha for c in git.Repo(ws.settings.gitops_dir).iter_commits()
            if c.message.startswith(f"release {key} ")]


def copy_module(src: Path, dest: Path, name: str, extra_yaml: dict | None = None) -> Path:
    shutil.copytree(src, dest)
    y = yaml.safe_load((dest / "module.yaml").read_text())
    y["name"] = name
    y.update(extra_yaml or {})
    (dest / "module.yaml").write_text(yaml.safe_dump(y, sort_keys=False))
    return dest


def add_budget(ws, team: str, amount: str, level: str) -> None:
    from wasmops.gitops.repo import GitOpsRepo

    doc = {"apiVersion": "wasmops.dev/v1alpha1", "kind": "Budget", "metadata": {"name": f"team-{team}"},
           "spec": {"scope": "team", "name": team, "monthlyAmount": amount, "currency": "USD",
                    "enforcementLevel": level}}
    GitOpsRepo.from_settings(ws.settings).write_files({f"budgets/team-{team}.yaml": yaml.safe_dump(doc)},
                                                       f"budget for {team}")


def pinned_deployment(key: str, **runtime_config):
    """A validated WasmModuleDeployment for ``namespace/name`` pinned to a made-up digest, with
    ``runtime_config`` added beside its resources: for plan and drift tests on a FakeHost."""
    from wasmops.gitops.manifest import WasmModuleDeployment

    ns, name = key.split("/", 1)
    return WasmModuleDeployment.model_validate({
        "metadata": {"name": name, "namespace": ns, "labels": {"team": "t", "project": "p"}},
        "spec": {"moduleRef": {"repository": "oci-layout:///x", "tag": "t", "digest": "sha256:" + "c" * 64},
                 "runtimeConfig": {"resources": {"cpu": "50m", "memory": "16Mi"}, **runtime_config}}})
