"""The demo's canary step: spec.rollout canary 10 → 50 → 100 promotes a rebuild with no change,
and aborts a ×2 fuel-per-call regression at the first step (stable never stops serving)."""

from __future__ import annotations

import yaml

from wasmops.demo.modules import worker_module

KEY = "dev/canaried"
STEPS = [{"weight": 10, "pause": "2s"}, {"weight": 50, "pause": "2s"}, {"weight": 100}]


def canary(demo) -> str:
    from wasmops.config import Settings
    from wasmops.gitops.repo import GitOpsRepo

    src = demo.home / "src" / "canaried"
    worker_module(src, "canaried", 20000, "v1")
    demo.wasmops("add", str(src), "--target", KEY, "--team", "demo", "--project", "canary")
    repo = GitOpsRepo.from_settings(Settings(home=demo.home))
    rel = f"modules/{KEY}.yaml"
    doc = yaml.safe_load((repo.path / rel).read_text())
    doc["spec"]["rollout"] = {"strategy": "canary", "steps": STEPS}
    repo.write_files({rel: yaml.safe_dump(doc, sort_keys=False)}, f"rollout {KEY}: canary 10 → 50 → 100")
    demo.wasmops("release", str(src), "--target", KEY, "--auto-approve", "--no-ai-check")   # first: a plain switch
    worker_module(src, "canaried", 20000, "v2")                                             # rebuilt, same behaviour
    demo.wasmops("release", str(src), "--target", KEY, "--auto-approve", "--ai-requests", "30")
    good = repo.desired().deployments[KEY].spec.module_ref.digest
    worker_module(src, "canaried", 40000, "v3")                                             # ×2 fuel per call
    bad = demo.wasmops("release", str(src), "--target", KEY, "--auto-approve", "--ai-requests", "30", check=False)
    now = repo.desired().deployments[KEY].spec.module_ref.digest
    served = {f"{m['namespace']}/{m['name']}": m["digest"] for m in demo._live()}[KEY]
    if bad.returncode == 0 or now != good or served != good:
        raise RuntimeError(f"the ×2 canary was not aborted: exit {bad.returncode}, git {now}, host {served}")
    return (f"v2 promoted 10 → 50 → 100 % ({good[7:19]}); v3 (×2 fuel per call) aborted at 10 %, "
            f"quarantined, Git reverted, stable served throughout")
