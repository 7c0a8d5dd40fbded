"""`wasmops decisions show ID` prints one record whole (looks, requests, per-metric table), and
`wasmops status` lists release verdicts a person should see (fail, or hold against a previous
digest), not a first release's routine hold. Records are written with the real decision store."""

from __future__ import annotations

import json
import os
import subprocess

from support.host import WASMOPS


def _ws(tmp_path):
    from wasmops.config import Settings
    from wasmops.workspace import init_workspace

    s = Settings(home=tmp_path / "ws")
    init_workspace(s)
    return s, {**os.environ, "WASMOPS_HOME": str(s.home), "COLUMNS": "200", "WASMOPS_HOST_URL": "http://127.0.0.1:9"}


def _run(env, *args):
    p = subprocess.run([WASMOPS, *args], env=env, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def test_show_prints_looks_requests_and_the_metric_table(tmp_path):
    from wasmops.ai.judge_sequential import judge_until_conclusive
    from wasmops.ai.release_check import default_policy
    from wasmops.gitops.decisions import Decision, record
    import numpy as np

    rng = np.random.default_rng(4)
    fuel = rng.lognormal(10, 1.0, 1000)

    def take(start, n):
        f = fuel[2 * start: 2 * (start + n)]
        return ({"fuel_per_call": f[0::2], "error_rate": np.zeros(len(f[0::2]))},
                {"fuel_per_call": f[1::2] * 1.25, "error_rate": np.zeros(len(f[1::2]))})
    v = judge_until_conclusive(take, default_policy(), first=30)
    s, env = _ws(tmp_path)
    d = Decision(kind="release-verdict", subject="dev/dice", verdict=v.verdict, explanation=v.explanation,
                 data={"baseline_digest": "sha256:" + "a" * 64, "looks": v.looks, "requests": len(fuel) // 2},
                 output={"score": v.score, "metrics": v.to_rows()}, model={"name": "release-judge", "version": v.judge_version})
    record(s.gitops_dir, d)
    code, out, err = _run(env, "decisions", "show", d.id)
    assert code == 0, err
    assert f"looks={v.looks}" in out and "requests=500" in out and "fuel_per_call" in out and "per metric" in out
    assert v.explanation.split(" (")[0] in " ".join(out.split())
    code, out, _ = _run(env, "decisions", "show", d.id, "--json")
    assert code == 0 and json.loads(out)["data"]["looks"] == v.looks
    code, _, err = _run(env, "decisions", "show", "dec-nope")
    assert code != 0 and "no such decision" in err


def test_status_lists_a_held_or_failed_release_but_not_a_first_releases_hold(tmp_path):
    from wasmops.gitops.decisions import Decision, record

    s, env = _ws(tmp_path)
    prev = {"baseline_digest": "sha256:" + "b" * 64}
    for subject, verdict, data, why in (
            ("dev/first", "hold", {"baseline_digest": None}, "no previous digest served this module"),
            ("dev/held", "hold", prev, "inconclusive after 5 looks: fuel_per_call +30%"),
            ("dev/fine", "pass", prev, "4 metric rows, none regressed (score 100)")):
        record(s.gitops_dir, Decision(kind="release-verdict", subject=subject, verdict=verdict, data=data, explanation=why))
    code, out, err = _run(env, "status", "--json")
    assert code == 0, err
    listed = {v["subject"]: v["verdict"] for v in json.loads(out)["verdicts"]}
    assert listed == {"dev/held": "hold"}


def test_status_hides_a_failed_release_a_later_release_of_the_module_passed(tmp_path):
    """Found from outside: after a release of dev/csvsum was rolled back and the next one passed,
    status's "last AI verdicts" still led with the old fail, the module's only line there."""
    from wasmops.gitops.decisions import Decision, record

    s, env = _ws(tmp_path)
    prev = {"baseline_digest": "sha256:" + "b" * 64}
    for subject, verdict, why in (("dev/mine", "fail", "error_rate 1 vs 0.4"), ("dev/other", "fail", "fuel +200%"),
                                  ("dev/mine", "pass", "4 metric rows, none regressed (score 100)"),
                                  ("dev/later", "pass", "none regressed"), ("dev/later", "hold", "inconclusive")):
        record(s.gitops_dir, Decision(kind="release-verdict", subject=subject, verdict=verdict, data=prev, explanation=why))
    code, out, err = _run(env, "status", "--json")
    assert code == 0, err
    listed = [(v["subject"], v["verdict"]) for v in json.loads(out)["verdicts"]]
    assert listed == [("dev/later", "hold"), ("dev/other", "fail")], listed


def test_every_command_a_rollback_hint_gives_works_on_the_release_verdict(tmp_path):
    """Found from outside: after a rollback the hint said `wasmops decisions label ID --wrong`; on the
    release verdict it names, that command answers "only model verdicts can be labelled"."""
    import re
    import shlex

    from wasmops.gitops import quarantine
    from wasmops.gitops.decisions import Decision, record
    from wasmops.release.decide import rollback_hint

    s, env = _ws(tmp_path)
    d = Decision(kind="release-verdict", subject="dev/mine", verdict="fail", explanation="fuel_per_call +555%",
                 digest="sha256:" + "d" * 64, model={"name": "release-judge", "version": "3-sequential"},
                 data={"baseline_digest": "sha256:" + "b" * 64})
    record(s.gitops_dir, d)
    quarantine.add(quarantine.repo_file(s), d.digest, module="dev/mine", reason="release judge fail")
    subprocess.run(["git", "-C", str(s.gitops_dir), "-c", "user.name=t", "-c", "user.email=t@example.com",
                    "commit", "-qam", "quarantine"], check=True)
    commands = re.findall(r"`(wasmops [^`]+)`", rollback_hint("dev/mine"))
    assert commands, rollback_hint("dev/mine")
    for cmd in commands:
        argv = [a.replace("ID", d.id).replace("DIGEST", d.digest).replace("WHY", "judged wrongly")
                for a in shlex.split(cmd)[1:]]
        code, out, err = _run(env, *argv)
        assert code == 0, (cmd, err)
