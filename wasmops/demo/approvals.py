"""The demo's approval-policy step (``make demo``): a prod release under a 2-of-3 ApprovalPolicy.

Three approvers (alice, bob, carol; dave instead of whichever of them runs the demo, who started the
release and may not approve it) get key pairs; their public keys and the policy go into Git; the
release pauses; the first signs (``wasmops approve RUN --key``) and the run still waits for one more
from sre; the second signs and the release goes through. Private keys stay in ``<home>/approver-keys/``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

TARGET = "prod/sum-wat"
POLICY = {"apiVersion": "wasmops.dev/v1alpha1", "kind": "ApprovalPolicy", "metadata": {"name": "prod-sums"},
          "spec": {"selector": {"namespaces": ["prod"], "matchLabels": {"project": "sums"}},
                   "rules": [{"group": "sre", "count": 2}], "expiry": "1h", "requireReason": True}}


def _approvers() -> list[str]:
    """Three approver names, none of them the person running the demo: the release is started as the
    OS user, and an ApprovalPolicy refuses a releaser's own approval (a user named alice could not
    run the demo)."""
    import getpass

    try:
        me = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry (containers): nobody to avoid
        me = ""
    return [n for n in ("alice", "bob", "carol", "dave") if n != me][:3]


def _setup(demo) -> dict[str, Path]:
    from wasmops.config import Settings
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.supply.signing import generate_keypair

    d = demo.home / "approver-keys"
    d.mkdir(exist_ok=True)
    files, keys = {"approvals/policies/prod-sums.yaml": yaml.safe_dump(POLICY, sort_keys=False)}, {}
    for name in _approvers():
        generate_keypair(d / f"{name}.key", d / f"{name}.pub", overwrite=True)
        keys[name] = d / f"{name}.key"
        files[f"approvers/sre/{name}.pub"] = (d / f"{name}.pub").read_text()
    GitOpsRepo.from_settings(Settings(home=demo.home)).write_files(files, "approvers/sre and ApprovalPolicy prod-sums")
    demo.wasmops("add", "examples/sum-wat", "--target", TARGET, "--team", "core", "--project", "sums", "--env", "prod")
    return keys


def _paused(demo, proc, pred, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for r in json.loads(demo.wasmops("approvals", "--json", capture=True).stdout or b"[]"):
            st = r.get("policy")
            if st and st["target"] == TARGET and pred(st):
                return r
        if proc.poll() is not None:
            raise RuntimeError("the prod release ended before its approvals; see .wasmops/logs/demo.log")
        time.sleep(1)
    raise RuntimeError(f"no paused release of {TARGET} appeared")


def approval_policy(demo) -> str:
    keys = _setup(demo)
    cmd = [str(Path(sys.executable).with_name("wasmops")), "release", "examples/sum-wat", "--target", TARGET,
           "--approval-timeout", "300", "--no-ai-check"]
    from wasmops.demo.shared import REPO

    proc = subprocess.Popen(cmd, env=demo.env, stdout=demo.log, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        run_id = _paused(demo, proc, lambda st: True)["id"]
        first, second = list(keys)[:2]
        demo.wasmops("approve", run_id, "--key", str(keys[first]), "--reason", "demo: tests green")
        needs = _paused(demo, proc, lambda st: st["approved_by"] == [first])["policy"]["needs"]
        demo.wasmops("approve", run_id, "--key", str(keys[second]), "--reason", "demo: second pair of eyes")
        if proc.wait(240) != 0:
            raise RuntimeError("the approved prod release failed; see .wasmops/logs/demo.log")
    finally:
        if proc.poll() is None:
            proc.kill()
    return (f"run {run_id[:8]}: {first} signed → still {needs[0].split(' (')[0]}; {second} signed → released; "
            f"{TARGET} serving; approvals in the decision record and its Wasmops-Approval trailers")
