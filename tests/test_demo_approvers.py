"""The demo's approval step works whoever runs it: `make demo` run by an OS user named alice failed
("alice started this release and may not approve it"), since alice was one of the demo's approvers."""

from __future__ import annotations

import getpass

import pytest

from wasmops.demo.approvals import _approvers


@pytest.mark.parametrize("user", ["alice", "bob", "carol", "dave", "root", "demo-operator"])
def test_no_demo_approver_is_the_person_running_the_demo(monkeypatch, user):
    monkeypatch.setattr(getpass, "getuser", lambda: user)
    names = _approvers()
    assert len(names) == 3 == len(set(names)) and user not in names


def test_without_a_passwd_entry_the_usual_three_approve(monkeypatch):
    def nobody():
        raise KeyError("getpwuid(): uid not found: 1234")
    monkeypatch.setattr(getpass, "getuser", nobody)
    assert _approvers() == ["alice", "bob", "carol"]
