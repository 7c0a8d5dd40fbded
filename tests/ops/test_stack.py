"""`wasmops up` brings up the whole stack; a scheduled flow runs by itself; an event triggers the rollback."""

from __future__ import annotations

import time

import httpx

from support import prefect_api


def _runs(api: str, flow_name: str, state: str | None = None) -> list[dict]:
    body = {"flows": {"name": {"any_": [flow_name]}}}
    if state:
        body["flow_runs"] = {"state": {"name": {"any_": [state]}}}
    return prefect_api.post(f"{api}/flow_runs/filter", json=body, timeout=60).json()


def _wait(pred, timeout: float, what: str):
    """Poll ``pred`` until it is truthy. A server too busy to answer one look in time (SQLite under a
    loaded CI machine: a 30 s read timeout was seen) is "not yet", not a failure; the deadline decides."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            out = pred()
        except httpx.TimeoutException as exc:
            last = exc
            continue
        if out:
            return out
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what} (last error: {last!r})")


def _automation_for(api: str, event: str) -> list[dict]:
    autos = prefect_api.post(f"{api}/automations/filter", json={}, timeout=30).json()
    return [a for a in autos if a.get("enabled") and event in (a.get("trigger") or {}).get("expect", [])]


def test_up_starts_every_part_and_status_reports_them(stack):
    svc = stack.services["services"]
    assert set(svc) == {"prefect", "host", "mlflow", "serve"}
    for name in ("prefect", "host", "mlflow"):
        assert httpx.get(svc[name]["health"], timeout=10).status_code == 200
    out = stack.wasmops("status", "--json").stdout
    assert '"prefect"' in out and '"approvals"' in out


def test_a_scheduled_flow_runs_by_itself(stack):
    """The stack's schedules are paused (tests/ops/conftest.py); collect-telemetry's is turned on here
    until one of its scheduled runs completed, then off again."""
    stack.schedules(active=True, names=["collect-telemetry"])
    try:
        runs = _wait(lambda: _runs(stack.api, "collect-telemetry", "Completed"), 240,
                     "a scheduled collect-telemetry run")
    finally:
        stack.schedules(active=False, names=["collect-telemetry"])
    assert runs[0]["deployment_id"]


def test_anomaly_event_triggers_the_rollback_deployment(stack):
    import git
    import yaml

    stack.wasmops("release", "examples/sum-wat", "--auto-approve", "--no-ai-check")
    repo = stack.home / "gitops"
    m = yaml.safe_load((repo / "modules" / "dev" / "sum-wat.yaml").read_text())
    bad = m["spec"]["moduleRef"]["digest"]
    event = {"event": "wasmops.anomaly.detected", "resource": {"prefect.resource.id": "wasmops.module.dev/sum-wat"},
             "payload": {"key": "dev/sum-wat", "digest": bad, "explanation": "test: injected anomaly"},
             "occurred": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "id": __import__("uuid").uuid4().hex}
    event["id"] = str(__import__("uuid").UUID(event["id"]))
    # The deployment runner registers the rollback automation after `up` returns; an event posted
    # before the automation exists triggers nothing, ever (a busy machine showed it).
    _wait(lambda: _automation_for(stack.api, "wasmops.anomaly.detected"), 240, "the rollback automation")
    r = prefect_api.post(f"{stack.api}/events", json=[event], timeout=180)   # a server at load 20 took over 30 s
    assert r.status_code in (200, 201, 204), r.text
    runs = _wait(lambda: _runs(stack.api, "rollback", "Completed"), 240, "the triggered rollback run")
    assert runs[0]["parameters"]["key"] == "dev/sum-wat"
    q = yaml.safe_load((repo / "quarantine.yaml").read_text())["entries"]
    assert any(e["digest"] == bad for e in q)
    m = yaml.safe_load((repo / "modules" / "dev" / "sum-wat.yaml").read_text())
    assert m["spec"]["moduleRef"].get("digest") != bad
    subjects = [c.message.splitlines()[0] for c in git.Repo(repo).iter_commits(max_count=10)]
    assert any(s.startswith("rollback dev/sum-wat") for s in subjects)
