"""The reconciler makes admission's digest-to-ref check itself: a manifest naming module A's
repository with module B's (validly signed) digest stalls before the host is asked."""

from __future__ import annotations

from support.wat import printing_wat
from wasmops.gitops.plan import Action, Plan
from wasmops.gitops.reconcile import apply


class CountingHost:
    def __init__(self):
        self.calls = 0

    def modules(self):
        return []

    def deploy(self, namespace, name, **body):
        self.calls += 1
        return {"changed": True}

    def delete(self, namespace, name):
        self.calls += 1


def _create(key: str, ref: str, digest: str) -> Action:
    return Action("create", key, "not on the host", {"ref": ref, "digest": digest}, digest)


def test_another_modules_digest_stalls_before_the_host_is_called(workspace):
    ref_a, digest_a = workspace.publish_wat("bind-a", printing_wat("a"))
    _ref_b, digest_b = workspace.publish_wat("bind-b", printing_wat("b"))
    host = CountingHost()
    rep = apply(Plan([_create("dev/bind-a", ref_a, digest_b)]), host, wait_healthy=False, check_binding=True)
    c = rep.conditions["dev/bind-a"]
    assert c["ArtifactBound"].reason == "ArtifactNotBound" and "bind-b" in c["ArtifactBound"].message
    assert c["Admitted"].reason == "Refused" and host.calls == 0 and not rep.ok
    ok = apply(Plan([_create("dev/bind-a", ref_a, digest_a)]), host, wait_healthy=False, check_binding=True)
    assert ok.conditions["dev/bind-a"]["ArtifactBound"].status == "True" and host.calls == 1
