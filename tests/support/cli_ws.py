"""A workspace made by `wasmops init` in a temporary directory, and `wasmops` run in a subprocess there."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml

from support.host import WASMOPS


class CliWorkspace:
    def __init__(self, home, cwd):
        self.home, self.cwd = home, cwd
        self.env = {**os.environ, "WASMOPS_HOME": str(home), "COLUMNS": "200"}

    def __call__(self, *args, check=None, python_flags=(), env=None):
        cmd = [sys.executable, *python_flags, WASMOPS, *map(str, args)] if python_flags else [WASMOPS, *map(str, args)]
        p = subprocess.run(cmd, env={**self.env, **(env or {})}, cwd=self.cwd, capture_output=True, text=True,
                           timeout=300)
        if check is not None:
            assert p.returncode == check, f"{args} → {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p

    def head(self) -> str:
        import git

        return git.Repo(self.home / "gitops").head.commit.hexsha

    def edit_manifest(self, key: str, edit) -> None:
        """Change the committed manifest of ``key`` with ``edit(doc)`` and commit it."""
        from wasmops.config import Settings
        from wasmops.gitops.repo import GitOpsRepo

        repo = GitOpsRepo.from_settings(Settings(home=self.home))
        ns, name = key.split("/")
        rel = f"modules/{ns}/{name}.yaml"
        doc = yaml.safe_load((repo.path / rel).read_text())
        edit(doc)
        repo.write_files({rel: yaml.safe_dump(doc, sort_keys=False)}, f"edit {key}")


def make_cli_workspace(tmp_path_factory) -> CliWorkspace:
    ws = CliWorkspace(tmp_path_factory.mktemp("cli-ws"), tmp_path_factory.mktemp("user"))
    ws("init", check=0)
    return ws


def imported(stderr: str) -> set[str]:
    """The modules a run with ``-X importtime`` imported."""
    return {ln.split("|")[-1].strip() for ln in stderr.splitlines() if ln.startswith("import time:")}


def without_importtime(stderr: str) -> str:
    return " ".join(" ".join(ln for ln in stderr.splitlines() if not ln.startswith("import time:")).split())
