"""A release says before it starts which test cases verify cannot run through the host, and why.

Found releasing npm's flite: module.yaml had a `--help` case with `args` (the host passes none), and the
release ended "verify: 1/1 passed, 1 not run", naming neither the case nor the reason (both were only in
the decision record and the Prefect artifact)."""

from __future__ import annotations

import pytest
import yaml
from support.cli_ws import make_cli_workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    ws = make_cli_workspace(tmp_path_factory)
    ws("new", "speak", "--language", "wat", check=0)
    ws("add", ws.cwd / "speak", "--target", "dev/speak", "--team", "t", "--project", "p", check=0)
    return ws


def _cases(ws, cases: list[dict]) -> None:
    yml = ws.cwd / "speak" / "module.yaml"
    doc = yaml.safe_load(yml.read_text())
    doc["tests"] = cases
    yml.write_text(yaml.safe_dump(doc, sort_keys=False))


def _notes(ws) -> tuple[str, ...]:
    from wasmops.config import Settings
    from wasmops.onboard import preflight

    return preflight(Settings(home=ws.home), ws.cwd / "speak", "dev/speak", auto_approve=True).notes


def test_the_cases_verify_cannot_run_are_named_with_the_reason_before_the_release(ws):
    _cases(ws, [{"name": "speaks", "stdin": "hi", "expect_stdout": ""},
                {"name": "help", "args": ["--help"], "expect_stdout_contains": "usage"},
                {"name": "loud", "stdin": "hi", "env": {"VOLUME": "11"}, "expect_stdout": ""}])
    (note,) = _notes(ws)
    assert note == ("verify through the host will report as not run: help: args given (the host passes none); "
                    "loud: env differs (VOLUME) (they run in `wasmops test` only)")


def test_no_note_when_every_case_runs_through_the_host(ws):
    _cases(ws, [{"name": "speaks", "stdin": "hi", "expect_stdout": ""}])
    assert _notes(ws) == ()


def _args(ws, args: list[str] | None) -> None:
    def edit(doc):
        rc = doc["spec"]["runtimeConfig"]
        rc.pop("args", None)
        rc.update({"args": args} if args else {})
    ws.edit_manifest("dev/speak", edit)


def test_a_case_runs_when_its_args_are_the_deployments_and_the_others_are_named(ws):
    _args(ws, ["-o", "-"])
    try:
        _cases(ws, [{"name": "out", "args": ["-o", "-"], "stdin": "hi", "expect_stdout": ""},
                    {"name": "plain", "stdin": "hi", "expect_stdout": ""}])
        (note,) = _notes(ws)
        assert note == ("verify through the host will report as not run: plain: args differ (the host passes -o -) "
                        "(they run in `wasmops test` only)")
    finally:
        _args(ws, None)


def test_when_every_case_passes_the_same_args_the_refusal_names_the_manifest_field(ws):
    from wasmops.errors import SpecError

    _cases(ws, [{"name": "json", "args": ["--format", "json"], "stdin": "hi", "expect_stdout": ""},
                {"name": "json-too", "args": ["--format", "json"], "expect_stdout": ""}])
    with pytest.raises(SpecError) as e:
        _notes(ws)
    assert "none of the test cases can run through the host of dev/speak" in e.value.message
    assert "json: args given (the host passes none)" in e.value.message
    assert ('set spec.runtimeConfig.args in ' in e.value.hint and 'modules/dev/speak.yaml to ["--format", "json"] '
            '(the args the cases run with)' in e.value.hint), e.value.hint


def _success_codes(ws, codes: list[int] | None) -> None:
    yml = ws.cwd / "speak" / "module.yaml"
    doc = yaml.safe_load(yml.read_text())
    doc.pop("success_exit_codes", None)
    doc.update({"success_exit_codes": codes} if codes else {})
    yml.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_success_exit_codes_changed_after_add_are_said_with_the_line_to_set(ws):
    """Found from outside (fourth round): `success_exit_codes: [42, 43]` in module.yaml after `add` wrote
    [42]; the release passed (test and verify both accept a case expecting exit 43) and the host then
    answered every exit 43 with a 502 counted as an error, and nothing said why."""
    _cases(ws, [{"name": "speaks", "stdin": "hi", "expect_stdout": ""}])
    _success_codes(ws, [43, 42])
    try:
        (note,) = _notes(ws)
        assert note.startswith("module.yaml's success_exit_codes are [42, 43], the deployment's [] (")
        assert "speak.yaml: spec.runtimeConfig.successExitCodes): the host answers exit 42, 43 as an error" in note
        assert note.endswith("set `successExitCodes: [42, 43]` there and commit it")
        ws.edit_manifest("dev/speak", lambda doc: doc["spec"]["runtimeConfig"].update({"successExitCodes": [42, 43]}))
        assert _notes(ws) == ()
        _success_codes(ws, None)                          # the other way: the deployment lists more
        (note,) = _notes(ws)
        assert "the host answers exit 42, 43 as a success" in note
    finally:
        _success_codes(ws, None)
        ws.edit_manifest("dev/speak", lambda doc: doc["spec"]["runtimeConfig"].pop("successExitCodes", None))


def test_when_the_cases_disagree_on_env_the_refusal_lists_each_with_its_cases(ws):
    """Found from outside (fourth round): cases needing different env values got the generic hint."""
    from wasmops.errors import SpecError

    _cases(ws, [{"name": "lax", "env": {"MODE": "lax"}, "stdin": "hi", "expect_stdout": ""},
                {"name": "lax-too", "env": {"MODE": "lax"}, "expect_stdout": ""},
                {"name": "strict", "env": {"MODE": "strict"}, "stdin": "hi", "expect_stdout": ""}])
    with pytest.raises(SpecError) as e:
        _notes(ws)
    hint = e.value.hint
    assert ('the cases ask for 2 different configurations (env {"MODE": "lax"} (2 cases: lax, lax-too); '
            'env {"MODE": "strict"} (1 case: strict))' in hint), hint
    assert "; set spec.runtimeConfig.env in " in hint and "speak.yaml to the one the deployment serves" in hint, hint
