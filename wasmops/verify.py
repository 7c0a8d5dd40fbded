"""Post-deploy verification: the new version answers its test cases through the host.

Only cases that the host can reproduce are run: the host passes the deployment's env and no
args, so a case that needs other env or args is listed as not applicable, not failed.
"""

from __future__ import annotations

from .testrun import CaseResult, TestReport, judge


def verify_via_host(client, namespace: str, name: str, src, *, env: dict[str, str], digest: str) -> TestReport:
    report = TestReport(module=f"{namespace}/{name}", digest=digest)
    for case in src.tests:
        if case.args or any(env.get(k) != v for k, v in case.env.items()):
            continue
        r = client.run(namespace, name, case.stdin.encode())
        served = r.headers.get("x-wasmops-digest")
        if r.status_code == 200:
            exit_code, reason, message, out = 0, None, "", r.text
        else:
            try:
                body = r.json()
            except ValueError:
                body = {"error": f"http {r.status_code}", "message": r.text[:200]}
            exit_code, reason, message, out = body.get("exit_code"), body.get("error"), body.get("message", ""), ""
        ok, why = judge(case, exit_code, reason, message, out)
        if ok and served != digest:
            ok, why = False, f"served digest {served} is not the released {digest}"
        report.cases.append(CaseResult(name=case.name, passed=ok, reason=why,
                                       fuel_used=int(r.headers.get("x-wasmops-fuel", 0) or 0),
                                       peak_memory=int(r.headers.get("x-wasmops-memory", 0) or 0),
                                       duration_ms=float(r.headers.get("x-wasmops-duration-ms", 0) or 0),
                                       exit_code=exit_code, stdout=out[:4096]))
    return report
