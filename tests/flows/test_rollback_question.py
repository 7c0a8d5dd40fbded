"""In prod, a regression the AI check finds is put to a person as a rollback question, not as the
release's own form: approve rolls back, reject keeps the release serving. The module is written
here: it spins N times, then prints ok; v2 spins three times as long."""

from __future__ import annotations

import time


from support.flows_helpers import run_in_thread
from support.gitops_helpers import add_manifest
from support.wat import spin_module

KEY = "prod/spin-question"


def _module(d, n: int):
    return spin_module(d, n, "spin-question")


def _next_question(seen: set[str], timeout: float = 180) -> dict:
    """The next paused run's form (an event: the run's pause appears in the server)."""
    from flows.ops import pending_approvals

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for r in pending_approvals():
            if r.get("form_ready", True) and r["description"] and r["description"] not in seen:
                seen.add(r["description"])
                return r
        time.sleep(0.3)
    raise AssertionError("no question appeared")


def test_a_prod_regression_is_asked_as_a_rollback_and_reject_keeps_it(flow_env, tmp_path):
    from flows.ops import answer
    from flows.release import release
    from wasmops.gitops.decisions import list_decisions

    ws, host, _ = flow_env
    mod = _module(tmp_path / "spin", 20_000)
    add_manifest(ws, KEY, str(mod))
    seen: set[str] = set()
    first = run_in_thread(release, module_dir=str(mod), target=KEY, approval_timeout_s=300)
    answer(_next_question(seen)["id"], approve=True, reason="first version", approver="ann")
    first.result(300)

    _module(mod, 60_000)                                           # x3 the work per request
    second = run_in_thread(release, module_dir=str(mod), target=KEY, approval_timeout_s=300)
    answer(_next_question(seen)["id"], approve=True, reason="ship v2", approver="ann")
    q = _next_question(seen)
    assert q["description"].startswith(f"## Roll back `{KEY}`?") and "fuel_per_call" in q["description"]
    assert "**reject** = keep this release serving" in q["description"]
    answer(q["id"], approve=False, reason="known, accepted cost", approver="bob")
    res = second.result(300)
    assert res["ai_verdict"]["verdict"] == "anomalous"
    live = {m["name"]: m for m in host.modules() if m["namespace"] == "prod"}["spin-question"]
    assert live["digest"] == res["manifest_digest"]                  # kept serving, as bob said
    d = list_decisions(ws.settings.gitops_dir, subject=KEY, kind="approval")[0]
    assert (d.verdict, d.actor, d.action) == ("rejected", "bob", "kept serving: the rollback was declined")
    assert d.policy_rule.startswith("a regression found in prod")
