"""Settings: every WASMOPS_* variable the code reads is a field, groups by purpose, built once."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from wasmops import config
from wasmops.config import Settings, current
from wasmops.workspace_paths import WorkspacePaths

ROOT = Path(__file__).resolve().parents[1]
# Read by the CLI for its own child processes, not a setting of a workspace.
NOT_SETTINGS = {"WASMOPS_PROJECT_DIR"}     # set by `wasmops worker` for prefect.yaml's pull step, read by Prefect


def _is_demo(f: Path) -> bool:
    return "demo" in f.relative_to(ROOT).parts


def test_every_wasmops_variable_in_the_code_is_a_field():
    names = set()
    for d in ("wasmops", "flows", "tasks", "models"):
        for f in (ROOT / d).rglob("*.py"):
            if _is_demo(f):
                continue
            names |= set(re.findall(r"WASMOPS_([A-Z][A-Z0-9_]*[A-Z0-9])\b", f.read_text()))
    fields = {n.upper() for n in Settings.model_fields}
    missing = {f"WASMOPS_{n}" for n in names} - {f"WASMOPS_{n}" for n in fields} - NOT_SETTINGS
    assert not missing, f"read outside Settings: {sorted(missing)}"


def test_no_code_reads_a_wasmops_variable_around_settings():
    reads = re.compile(r"""(environ\.get|getenv)\(\s*["']WASMOPS_|environ\[["']WASMOPS_[A-Z_]+["']\](?!\s*=)""")
    offenders = []
    for d in ("wasmops", "flows", "tasks", "models"):
        for f in (ROOT / d).rglob("*.py"):
            if f.name == "config.py" or _is_demo(f):
                continue
            offenders += [f"{f.relative_to(ROOT)}:{i}" for i, line in enumerate(f.read_text().splitlines(), 1)
                          if reads.search(line)]
    assert not offenders, offenders


def test_groups_and_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("WASMOPS_HOST_URL", "http://10.0.0.9:9")
    monkeypatch.setenv("WASMOPS_REGISTRY_INSECURE", "true")
    s = Settings(home=tmp_path)
    assert s.hosting.url == "http://10.0.0.9:9" and s.supply.registry_insecure is True
    assert s.supply.registry_base == f"oci-layout://{tmp_path / 'oci'}"
    assert s.gitops_dir == s.paths.gitops and s.oci_layout == s.paths.oci_layout
    assert s.trusted_keys_dir == tmp_path / "trusted-keys"
    (tmp_path / "gitops" / "keys").mkdir(parents=True)
    assert s.paths.trusted_keys == tmp_path / "gitops" / "keys"


@given(st.sampled_from([p for p in dir(WorkspacePaths) if isinstance(getattr(WorkspacePaths, p), property)]))
def test_every_workspace_path_is_under_home(name):
    home = Path("/ws/x")
    assert getattr(WorkspacePaths(home), name).is_relative_to(home)


def test_current_is_built_once_and_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "_CURRENT", None)
    monkeypatch.setenv("WASMOPS_HOME", str(tmp_path / "a"))
    a = current()
    assert current() is a and a.home == tmp_path / "a"
    monkeypatch.setenv("WASMOPS_HOME", str(tmp_path / "b"))
    b = current()
    assert b is not a and b.home == tmp_path / "b"
    monkeypatch.setenv("WASMOPS_DEBUG", "1")
    assert current().debug is True
