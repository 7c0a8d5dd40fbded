"""ApprovalPolicy, signed approval statements and the gate that counts them (core, no Prefect)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as hs

from wasmops.approvals import (ApprovalGate, ApprovalPolicy, Expected, Statement, approver_ring,
                               load_approval_config, load_approval_config_at, parse_duration, sign_statement)
from wasmops.errors import SignatureError, SpecError
from wasmops.supply.signing import generate_keypair

DIGEST = "sha256:" + "d" * 64
RUN = "11111111-2222-3333-4444-555555555555"
PEOPLE = {"sre": ["alice", "bob", "carol", "rita"], "security": ["dave"]}


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """name -> private PEM, and group -> name -> public PEM (as in approvers/<group>/<name>.pub)."""
    d = tmp_path_factory.mktemp("approver-keys")
    private, groups = {}, {}
    for group, names in PEOPLE.items():
        for name in names:
            generate_keypair(d / f"{name}.key", d / f"{name}.pub")
            private[name] = (d / f"{name}.key").read_bytes()
            groups.setdefault(group, {})[name] = (d / f"{name}.pub").read_bytes()
    generate_keypair(d / "mallory.key", d / "mallory.pub")
    private["mallory"] = (d / "mallory.key").read_bytes()
    return private, groups


def policy(**spec) -> ApprovalPolicy:
    spec.setdefault("rules", [{"group": "sre", "count": 2}])
    return ApprovalPolicy.model_validate({"kind": "ApprovalPolicy", "metadata": {"name": "prod-sre"},
                                         "spec": {"selector": {"namespaces": ["prod"]}, **spec}})


def gate(keys, *policies, groups=None) -> ApprovalGate:
    return ApprovalGate(list(policies) or [policy()], approver_ring(groups or keys[1]),
                        Expected(RUN, "prod/greet", DIGEST, "rita"))


def signed(keys, name, *, signer=None, decision="approve", reason="looks good", when=None, **over):
    fields = {"run_id": RUN, "target": "prod/greet", "manifest_digest": DIGEST, "decision": decision,
              "reason": reason, "approver": name, **over}
    if when is not None:
        fields["time"] = when.isoformat(timespec="seconds")
    return sign_statement(Statement(**fields), keys[0][signer or name])


# -- the kind --------------------------------------------------------------------------------------

def test_policy_defaults_and_description():
    p = policy(rules=[{"group": "sre", "count": 1}, {"group": "security"}])
    assert p.describe() == "1 of sre and 1 of security"
    s = p.spec
    assert (s.expiry_s, s.require_reason, s.allow_self_approval, s.allow_unsigned, s.on_timeout) == \
        (3600, True, False, False, "reject")


@pytest.mark.parametrize("spec, field", [
    ({"expiry": "soon"}, "spec.expiry"),
    ({"rules": []}, "spec.rules"),
    ({"rules": [{"group": "sre"}, {"group": "sre", "count": 2}]}, "spec.rules"),
    ({"rules": [{"group": "sre", "count": 0}]}, "spec.rules.0.count"),
    ({"onTimeout": "maybe"}, "spec.onTimeout"),
    ({"allowSelf": True}, "spec.allowSelf"),
])
def test_bad_policies_name_the_field(tmp_path, spec, field):
    doc = {"kind": "ApprovalPolicy", "metadata": {"name": "p"}, "spec": {"rules": [{"group": "sre"}], **spec}}
    (tmp_path / "approvals" / "policies").mkdir(parents=True)
    (tmp_path / "approvals" / "policies" / "p.yaml").write_text(yaml.safe_dump(doc))
    cfg = load_approval_config(tmp_path)
    assert cfg.policies == [] and field in cfg.errors[0] and "approvals/policies/p.yaml" in cfg.errors[0]
    with pytest.raises(SpecError, match="broken ApprovalPolicy"):   # fails closed
        cfg.covering(None)


def test_durations():
    assert [parse_duration(x) for x in ("45s", "30m", "1h30m", "2d", 90)] == [45, 1800, 5400, 172800, 90]
    for bad in ("", "1 h", "h", "10x", "0s", -1, True):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_selector():
    from wasmops.gitops.manifest import WasmModuleDeployment

    def m(ns, env, team):
        return WasmModuleDeployment.model_validate({
            "metadata": {"name": "x", "namespace": ns, "labels": {"team": team, "project": "p"}},
            "spec": {"environment": env, "moduleRef": {"repository": "x", "tag": "v1"}}})
    p = ApprovalPolicy.model_validate({"metadata": {"name": "p"}, "spec": {
        "selector": {"namespaces": ["prod", "edge"], "environments": ["prod"], "matchLabels": {"team": "pay"}},
        "rules": [{"group": "sre"}]}})
    assert p.covers(m("prod", "prod", "pay")) and p.covers(m("edge", "prod", "pay"))
    assert not p.covers(m("prod", "prod", "core")) and not p.covers(m("dev", "prod", "pay"))
    assert not p.covers(m("edge", "dev", "pay"))


def test_load_at_a_commit_reads_git_objects_only(tmp_path, keys):
    import git

    repo = git.Repo.init(tmp_path, initial_branch="main")
    (tmp_path / "approvals" / "policies").mkdir(parents=True)
    (tmp_path / "approvals" / "policies" / "prod.yaml").write_text(
        yaml.safe_dump(policy().model_dump(mode="json", by_alias=True)))
    for group, members in keys[1].items():
        (tmp_path / "approvers" / group).mkdir(parents=True)
        for name, pem in members.items():
            (tmp_path / "approvers" / group / f"{name}.pub").write_bytes(pem)
    (tmp_path / "approvers" / "sre" / "broken.pub").write_text("not a key")
    repo.git.add("-A")
    repo.index.commit("approvals")
    (tmp_path / "approvers" / "sre" / "uncommitted.pub").write_bytes(keys[1]["sre"]["alice"])
    cfg = load_approval_config_at(tmp_path, "main")
    assert [p.name for p in cfg.policies] == ["prod-sre"]
    assert sorted(cfg.groups["sre"]) == ["alice", "bob", "carol", "rita"]
    assert cfg.errors and cfg.errors[0].startswith("approvers/sre/broken.pub")


def test_schema_export_has_the_kind():
    from wasmops.schemas import json_schemas

    sch = json_schemas()["ApprovalPolicy"]
    assert sch["$id"].endswith("/ApprovalPolicy.json")
    assert "onTimeout" in sch["$defs"]["ApprovalPolicySpec"]["properties"]


# -- counting ----------------------------------------------------------------------------------

def test_two_of_three_needs_two_distinct_approvers(keys):
    g = gate(keys)
    assert g.needs() == ["2 more from sre (policy prod-sre)"]
    assert g.submit(signed(keys, "alice")).code == "counted"
    assert g.outcome() is None and g.needs() == ["1 more from sre (policy prod-sre)"]
    assert g.submit(signed(keys, "alice", reason="again")).code == "renewed"   # still one person
    assert g.outcome() is None
    assert g.submit(signed(keys, "bob")).code == "counted"
    assert g.outcome() == "approved" and [a.approver for a in g.counted()] == ["alice", "bob"]
    assert g.status()["approved_by"] == ["alice", "bob"] and g.status()["needs"] == []


@pytest.mark.parametrize("case, code", [
    ("outside-group", "outside-group"),      # dave is in security; the policy counts sre
    ("unknown-key", "outside-group"),        # mallory's key is in no approvers/ group
    ("expired", "expired"),
    ("future", "future"),
    ("other-run", "replay"),
    ("other-digest", "replay"),
    ("other-target", "replay"),
    ("self", "self-approval"),
    ("no-reason", "no-reason"),
    ("name-mismatch", "name-mismatch"),
])
def test_refusals_change_nothing(keys, case, code):
    now = datetime.now(timezone.utc)
    sub = {
        "outside-group": lambda: signed(keys, "dave"),
        "unknown-key": lambda: signed(keys, "mallory"),
        "expired": lambda: signed(keys, "alice", when=now - timedelta(hours=2)),
        "future": lambda: signed(keys, "alice", when=now + timedelta(hours=1)),
        "other-run": lambda: signed(keys, "alice", run_id="99999999-0000-0000-0000-000000000000"),
        "other-digest": lambda: signed(keys, "alice", manifest_digest="sha256:" + "e" * 64),
        "other-target": lambda: signed(keys, "alice", target="prod/other"),
        "self": lambda: signed(keys, "rita"),
        "no-reason": lambda: signed(keys, "alice", reason="  "),
        "name-mismatch": lambda: signed(keys, "bob", signer="alice"),
    }[case]()
    g = gate(keys)
    v = g.submit(sub)
    assert not v.accepted and v.code == code, v
    assert g.outcome() is None and g.needs() == ["2 more from sre (policy prod-sre)"]
    assert g.refused[-1]["code"] == code and code in g.status()["refused"][-1]


def test_self_approval_when_the_policy_allows_it(keys):
    g = gate(keys, policy(allowSelfApproval=True, rules=[{"group": "sre", "count": 1}]))
    assert g.submit(signed(keys, "rita")).accepted and g.outcome() == "approved"


def test_unsigned_answers(keys):
    g = gate(keys)
    v = g.submit_unsigned(True, "ok", "ann")
    assert (v.accepted, v.code) == (False, "unsigned") and "--key" in v.message and g.outcome() is None
    assert gate(keys, policy(allowUnsigned=True)).submit_unsigned(True, "ok", "ann").accepted
    lax = gate(keys, policy(allowUnsigned=True))
    assert lax.submit_unsigned(True, "ok", "rita").code == "self-approval"
    assert lax.submit_unsigned(True, "ok", "ann").accepted and lax.outcome() == "approved"
    stop = gate(keys)
    assert stop.submit_unsigned(False, "", "ann").code == "rejection" and stop.outcome() == "rejected"


def test_a_signed_rejection_stops_at_once(keys):
    g = gate(keys)
    g.submit(signed(keys, "alice"))
    assert g.submit(signed(keys, "carol", decision="reject", reason="bad timing")).code == "rejection"
    assert g.outcome() == "rejected" and g.rejection.approver == "carol"


def test_approvals_expire_while_the_run_waits(keys):
    g = gate(keys, policy(expiry="30m"))
    now = datetime.now(timezone.utc)
    g.submit(signed(keys, "alice", when=now - timedelta(minutes=29)))
    g.submit(signed(keys, "bob"))
    assert g.outcome(now) == "approved"
    assert g.outcome(now + timedelta(minutes=2)) is None
    assert g.needs(now + timedelta(minutes=2)) == ["1 more from sre (policy prod-sre)"]


def test_one_person_fills_one_slot_across_groups(keys):
    groups = {"sre": dict(keys[1]["sre"]), "security": {**keys[1]["security"], "alice": keys[1]["sre"]["alice"]}}
    g = gate(keys, policy(rules=[{"group": "sre"}, {"group": "security"}]), groups=groups)
    g.submit(signed(keys, "alice"))      # alice is in both groups, but is one person
    assert g.outcome() is None and len(g.needs()) == 1
    g.submit(signed(keys, "bob"))        # bob takes sre, so alice moves to security
    assert g.outcome() == "approved"


def test_every_covering_policy_must_hold(keys):
    sec = ApprovalPolicy.model_validate({"metadata": {"name": "sec"}, "spec": {"rules": [{"group": "security"}]}})
    g = gate(keys, policy(rules=[{"group": "sre"}]), sec)
    g.submit(signed(keys, "alice"))
    assert g.needs() == ["1 more from security (policy sec)"]
    g.submit(signed(keys, "dave"))
    assert g.outcome() == "approved"


def test_a_group_too_small_says_so(keys):
    g = gate(keys, policy(rules=[{"group": "security", "count": 2}]))
    assert g.needs() == ["2 more from security (policy prod-sre; approvers/security/ holds 1 key(s))"]


# -- tampering (property) ------------------------------------------------------------------------

FIELDS = ["runId", "target", "manifestDigest", "decision", "reason", "time", "approver"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=hs.sampled_from(FIELDS), value=hs.text(min_size=1, max_size=40))
def test_a_tampered_statement_never_counts(keys, field, value):
    sub = signed(keys, "alice")
    doc = json.loads(sub["statement"])
    if doc[field] == value:
        value += "x"
    doc[field] = value
    g = gate(keys)
    v = g.submit({"statement": json.dumps(doc, sort_keys=True, separators=(",", ":")), "bundle": sub["bundle"]})
    assert not v.accepted and v.code == "bad-signature" and "digest mismatch" in v.message
    assert g.outcome() is None and not g.approvals


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=hs.data())
def test_flipped_bytes_never_count(keys, data):
    """Positions are drawn independently of the lengths: an ECDSA signature (and its base64) varies in
    length from one signing to the next, and hypothesis needs the same draws when it replays a case."""
    sub = signed(keys, "alice")
    where = data.draw(hs.sampled_from(["statement", "signature"]))
    if where == "statement":
        text = sub["statement"]
        i = data.draw(hs.integers(0, 10**6)) % len(text)
        c = data.draw(hs.characters(codec="ascii").filter(lambda ch: ch != text[i]))
        sub = {**sub, "statement": text[:i] + c + text[i + 1:]}
    else:
        sig = sub["bundle"]["messageSignature"]["signature"]
        i = data.draw(hs.integers(0, 10**6)) % (len(sig) - 4)
        c = data.draw(hs.sampled_from("ABCDEFGHabcdefgh0123").filter(lambda ch: ch != sig[i]))
        bundle = json.loads(json.dumps(sub["bundle"]))
        bundle["messageSignature"]["signature"] = sig[:i] + c + sig[i + 1:]
        sub = {**sub, "bundle": bundle}
    g = gate(keys)
    assert not g.submit(sub).accepted and g.outcome() is None


def test_verify_signature_rejects_garbage(keys):
    from wasmops.approvals import verify_signature

    for junk in (None, {}, {"statement": 3}, {"statement": "{}", "bundle": "nope"}):
        with pytest.raises(SignatureError):
            verify_signature(junk, approver_ring(keys[1]))


# -- the record ----------------------------------------------------------------------------------

def test_record_commits_the_statements_with_trailers(tmp_path, keys):
    import git

    from wasmops.approvals.record import record_gate
    from wasmops.gitops.decisions import list_decisions

    repo = git.Repo.init(tmp_path, initial_branch="main")
    (tmp_path / "README").write_text("x")
    repo.git.add("README")
    repo.index.commit("seed")
    g = gate(keys)
    for name in ("alice", "bob"):
        g.submit(signed(keys, name))
    g.submit(signed(keys, "dave"))   # refused: recorded as such
    d = record_gate(tmp_path, g, verdict="approved", explanation="ok", action="release continues",
                    release_commit="abc123")
    msg = repo.head.commit.message
    assert f"Wasmops-Decision: {d.id}" in msg and "Wasmops-Approves: abc123" in msg
    assert msg.count("Wasmops-Approval: ") == 2 and "Wasmops-Approval-Policy: prod-sre" in msg
    rec = list_decisions(tmp_path, kind="approval")[0]
    assert rec.actor == "alice, bob" and rec.inputs["releaser"] == "rita"
    st = [json.loads(a["statement"]) for a in rec.data["approvals"]]
    assert [s["approver"] for s in st] == ["alice", "bob"] and rec.data["approvals"][0]["bundle"]
    assert rec.data["refused"][0]["code"] == "outside-group"
