"""A release whose digest the host already serves, while Git names another (edited by hand), only
repairs Git: it must not judge the digest against itself.

Found from outside: Git's digest was hand-edited to one the registry lacks (the reconciler stalled,
the host kept serving the released digest); releasing the unchanged module committed, verified, and
recorded a release verdict ``pass`` with ``baseline_digest`` equal to ``digest``: a comparison that
cannot fail. The module is written here (``support.wat.spin_module``).
"""

from __future__ import annotations

import re
import subprocess

from support.gitops_helpers import add_manifest
from support.host import WASMOPS
from support.wat import spin_module

KEY = "dev/spin-repair"


def _release(ws, mod, api_url, *extra) -> subprocess.CompletedProcess:
    return subprocess.run([WASMOPS, "release", str(mod), "--target", KEY, "--auto-approve", *extra],
                          env={**ws.env, "PREFECT_API_URL": api_url, "COLUMNS": "300"},
                          capture_output=True, text=True, timeout=600)


def test_a_release_that_only_repairs_git_records_no_verdict_against_itself(flow_env, tmp_path, prefect_api):
    from wasmops.gitops.decisions import list_decisions
    from wasmops.gitops.repo import GitOpsRepo

    ws, host, _ = flow_env
    mod = spin_module(tmp_path / "spin", 5_000, "spin-repair")
    add_manifest(ws, KEY, str(mod))
    first = _release(ws, mod, prefect_api, "--no-ai-check")        # its verdict does not matter here
    assert first.returncode == 0, first.stdout + first.stderr
    serving = {m["name"]: m for m in host.modules() if m["namespace"] == "dev"}["spin-repair"]["digest"]

    repo = GitOpsRepo.from_settings(ws.settings)
    path = repo.manifest_file(KEY)
    text = path.read_text()
    assert serving in text
    path.write_text(text.replace(serving, "sha256:" + "0" * 64))              # a hand edit, committed
    subprocess.run(["git", "-C", str(repo.path), "-c", "user.name=ann", "-c", "user.email=a@example.com",
                    "commit", "-qam", "pin another digest by hand"], check=True)
    before = {d.id for d in list_decisions(ws.settings.gitops_dir, subject=KEY, kind="release-verdict")}

    again = _release(ws, mod, prefect_api)
    out = again.stdout + again.stderr
    assert again.returncode == 0, out
    assert re.search(r"repairs Git", out), out
    assert serving in repo.manifest_file(KEY).read_text()                     # Git names the serving digest again
    new = [d for d in list_decisions(ws.settings.gitops_dir, subject=KEY, kind="release-verdict") if d.id not in before]
    assert not [d for d in new if (d.data or {}).get("baseline_digest") == d.digest], [d.data for d in new]
