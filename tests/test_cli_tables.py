"""At 80 columns the CLI never cuts a number: text columns wrap, numbers keep their width."""

from __future__ import annotations

import os
import re
import subprocess

from hypothesis import given, settings, strategies as st

from support.host import WASMOPS


def _cells(text: str) -> str:
    return re.sub(r"[│┃┏┓┗┛━─┡┩└┘┌┐╇╈┳┻╋├┤┼]", " ", text)


@given(rows=st.lists(st.fixed_dictionaries({
    "module": st.text(alphabet="abcdefghij-/", min_size=1, max_size=40),
    "fuel": st.integers(0, 10**15),
    "ratio": st.floats(min_value=1e-6, max_value=1e9, allow_nan=False),
    "why": st.text(alphabet="abc xyz[]", max_size=120),
}), min_size=1, max_size=5))
@settings(max_examples=40, deadline=None)
def test_table_keeps_every_number_whole_at_80_columns(rows):
    from rich.console import Console

    from wasmops.cli._ui import fmt_number, table

    c = Console(width=80, record=True, file=open(os.devnull, "w"))
    c.print(table("t", rows))
    out = _cells(c.export_text())
    for r in rows:
        assert re.search(rf"(?<![\d.]){re.escape(str(r['fuel']))}(?![\d.])", out), (r, out)
        assert fmt_number(r["ratio"]) in out, (r, out)


def test_decisions_and_status_at_80_columns_print_whole_numbers(tmp_path):
    from wasmops.config import Settings
    from wasmops.gitops.decisions import Decision, record
    from wasmops.workspace import init_workspace

    s = Settings(home=tmp_path / "ws")
    init_workspace(s)
    why = "error rate 0.3312 against a baseline of 494.2 requests; fuel per call 1234567 vs 1000001"
    record(s.gitops_dir, Decision(kind="anomaly", subject="prod/greet-c", verdict="anomalous", explanation=why))
    env = {**os.environ, "WASMOPS_HOME": str(s.home), "COLUMNS": "80", "WASMOPS_HOST_URL": "http://127.0.0.1:9"}
    for cmd in (["decisions"], ["status"]):
        p = subprocess.run([WASMOPS, *cmd], env=env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        out = _cells(p.stdout)
        for n in ("0.3312", "494.2", "1234567", "1000001"):
            assert re.search(rf"(?<![\d.]){re.escape(n)}(?![\d.])", out), (cmd, n, p.stdout)
        assert "…" not in p.stdout


def test_decisions_at_80_columns_are_one_block_a_record_with_whole_ids(tmp_path):
    from wasmops.config import Settings
    from wasmops.gitops.decisions import Decision, record
    from wasmops.workspace import init_workspace

    s = Settings(home=tmp_path / "ws")
    init_workspace(s)
    ds = [Decision(kind=k, subject="dev/wordstat", verdict=v, explanation=why, actor="wasmops",
                   policy_rule="policies/release-judge.yaml (slot-paired signed-rank)")
          for k, v, why in (("budget", "allowed", "no budget covers its team or project"),
                             ("release-verdict", "pass", "4 metric rows, none regressed (score 100)"))]
    for d in ds:
        record(s.gitops_dir, d)
    ids = [d.id for d in ds]
    for width, table in (("80", False), ("200", True)):
        env = {**os.environ, "WASMOPS_HOME": str(s.home), "COLUMNS": width}
        p = subprocess.run([WASMOPS, "decisions"], env=env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        assert max(len(ln) for ln in p.stdout.splitlines()) <= int(width), p.stdout
        assert all(i in p.stdout for i in ids) and ("┃" in p.stdout) == table, p.stdout
        assert "4 metric rows, none regressed (score 100)" in " ".join(p.stdout.split()), p.stdout


@given(rows=st.lists(st.fixed_dictionaries({
    "team": st.text(alphabet="abcdefghij-", min_size=1, max_size=30),
    "invocation_cost": st.decimals(min_value=0, max_value=10**6, places=4).map(str),
    "storage_cost": st.decimals(min_value=0, max_value=10**6, places=4).map(str),
    "total_cost": st.decimals(min_value=0, max_value=10**6, places=4).map(str),
    "idle_share": st.floats(min_value=0, max_value=1),
    "reason": st.text(alphabet="abc xyz", max_size=60),
}), min_size=1, max_size=4), width=st.sampled_from([80, 100, 200]))
@settings(max_examples=30, deadline=None)
def test_a_table_too_wide_for_the_terminal_prints_one_block_a_row_with_every_value_whole(rows, width):
    """`cost report` at 80 columns split headers mid-word (`invocat|ion_cos|t`) and `models audit`
    squeezed its team column to nothing."""
    from rich.console import Console

    from wasmops.cli._ui import fmt_number, table

    c = Console(width=width, record=True, file=open(os.devnull, "w"))
    t = table("cost by team", rows)
    c.print(t)
    out = c.export_text()
    assert max(len(ln) for ln in out.splitlines()) <= width
    blocks = t.needed() > width
    assert ("┃" in out) != blocks
    flat = " ".join(_cells(out).split())
    for r in rows:
        for k in ("invocation_cost", "total_cost"):
            assert r[k] in flat, (r, out)
        assert fmt_number(r["idle_share"]) in flat
        if blocks:
            first, *rest = list(rows[0])
            assert f"- {fmt_number(r[first])}" in out
            assert all(f"{k}: {fmt_number(r[k])}" in out for k in rest if k != "reason"), out
