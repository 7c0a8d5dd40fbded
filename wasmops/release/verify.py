"""Post-deploy verification: the new version answers its test cases through the host.

The host runs a case with the deployment's env, args and scratch directory (``spec.runtimeConfig.args``
and ``.scratch``, none by default), so a case that needs other env, args or scratch cannot run there as
written: it is reported as *not run* with the reason (counted in the release summary and decision
record), never silently skipped and never counted as passed. Each case that does run is judged by the
same ``testrun.judge`` as ``wasmops test``.
"""

from __future__ import annotations

from wasmops.supply.testrun import (TestReport, expected_end, judge, not_run,  # noqa: F401  (public here)
                                    scratch_differs, why_not_runnable)


def verify_via_host(client, namespace: str, name: str, src, *, env: dict[str, str], digest: str,
                    args: list[str] | None = None, scratch=None) -> TestReport:
    """``env``, ``args``, ``scratch``: the deployment's (its manifest's ``spec.runtimeConfig``), which the
    host runs with. ``wasmops test`` runs every case with module.yaml's ``scratch``: when the deployment's
    differs, no case runs through the host as written."""
    report = TestReport(module=f"{namespace}/{name}", digest=digest)
    files = scratch_differs(getattr(src, "scratch", None), scratch)
    for case in src.tests:
        why = why_not_runnable(case, env, args) or files
        if why:
            report.cases.append(not_run(case, why))
            continue
        # a case that fails on purpose says so, so the host counts its run as expected, not as an error
        r, served = client.invoke(namespace, name, case.stdin_bytes, expect=expected_end(case))
        res = judge(case, r)
        if res.passed and served != digest:
            res.passed, res.reason = False, f"served digest {served} is not the released {digest}"
        report.cases.append(res)
    return report


def target_probes(settings, src, key: str) -> list[bytes]:
    """The release judge's probe bodies for ``key``: the cases verify runs, under the env and args of
    its manifest in Git (``release.steps.probe_bodies``)."""
    from wasmops.errors import ConfigError
    from wasmops.gitops.repo import GitOpsRepo
    from wasmops.release.steps import probe_bodies

    try:
        m = GitOpsRepo.from_settings(settings).desired().deployments.get(key)
    except ConfigError:              # no GitOps repo (a host sampled outside a workspace): no deployment env
        m = None
    return probe_bodies(src, m.spec.runtime_config.env if m else None, m.spec.runtime_config.args if m else None)
