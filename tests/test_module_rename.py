"""module.yaml renamed after `wasmops add`: the host runs the module with argv[0] from the manifest's
wasmops.dev/module label (the old name), `wasmops test` with the new one, so a case that checks
argv[0] passed the test step and failed verify (a healthy build rolled back and quarantined). The
release now refuses before anything runs, naming both files and fields and the fix."""

from __future__ import annotations

import pytest

from support.cli_ws import imported, make_cli_workspace, without_importtime
from support.wasi_wat import argv0_wat

LABEL = "wasmops.dev/module"


def _module(d, name: str) -> None:
    d.mkdir(exist_ok=True)
    (d / "argv.wat").write_text(argv0_wat())
    (d / "module.yaml").write_text(f"name: {name}\nlanguage: wat\nsources: [argv.wat]\n"
                                   f"tests:\n  - {{name: knows-its-name, expect_stdout: '{name}'}}\n")


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return make_cli_workspace(tmp_path_factory)


def test_a_module_renamed_after_add_is_refused_before_anything_runs(ws):
    d = ws.cwd / "jsonsum"
    _module(d, "jsonsum")
    ws("add", d, "--target", "dev/jsonsum", "--team", "qa", "--project", "p", check=0)
    _module(d, "json-sum")                                   # renamed in module.yaml afterwards
    ws("test", d, check=0)                                   # argv[0] is the new name in the sandbox
    head = ws.head()
    p = ws("release", d, "--target", "dev/jsonsum", "--auto-approve", check=1, python_flags=("-X", "importtime"))
    assert "prefect" not in imported(p.stderr) and "Traceback" not in p.stderr
    err = without_importtime(p.stderr)
    manifest = ws.home / "gitops" / "modules" / "dev" / "jsonsum.yaml"
    assert f"{d / 'module.yaml'}: name" in err and f"metadata.labels.{LABEL}: 'jsonsum'" in err, err
    assert str(manifest) in err and "'json-sum'" in err and "argv[0]" in err, err
    assert f"set `{LABEL}: json-sum` under metadata.labels in {manifest}" in err, err
    assert "or keep `name: jsonsum`" in err, err
    assert ws.head() == head


def test_the_fix_it_names_lets_the_release_through_the_preflight(ws):
    from wasmops.config import Settings
    from wasmops.onboard import preflight

    d = ws.cwd / "renamed"
    _module(d, "before")
    ws("add", d, "--target", "dev/renamed", "--team", "qa", "--project", "p", check=0)
    _module(d, "after")
    ws.edit_manifest("dev/renamed", lambda doc: doc["metadata"]["labels"].update({LABEL: "after"}))
    pre = preflight(Settings(home=ws.home), d, "dev/renamed", auto_approve=True)
    assert pre.source.name == "after" and pre.manifest.metadata.labels[LABEL] == "after"
