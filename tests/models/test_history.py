"""`models history` in words an operator reads right, and the promotion rule's reason names
synthetic data it let through.

Found from outside: `history --at T` printed `version 2 … reason: no champion yet` (read as "there
is no champion"), `history --kind bogus` printed `no promotions recorded`, and the promotion of a
model trained on synthetic data said nothing of it outside MLflow's tags."""

from __future__ import annotations

from hypothesis import given, strategies as st
from typer.testing import CliRunner

from wasmops.gitops.decisions import Decision, record


def _history(monkeypatch, home, *args):
    from wasmops.cli import app

    monkeypatch.setenv("WASMOPS_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner().invoke(app, ["models", "history", *args])


def test_an_unknown_kind_is_refused_naming_the_kinds(tmp_path, monkeypatch):
    (tmp_path / "gitops").mkdir()
    r = _history(monkeypatch, tmp_path, "--kind", "bogus")
    assert r.exit_code != 0 and "anomaly" in str(r.exception) and "cost" in str(r.exception), r.output


def test_at_a_time_says_why_the_version_was_promoted_and_none_before(tmp_path, monkeypatch):
    g = tmp_path / "gitops"
    for version, why, at in (("2", "no champion yet", "2026-01-01T00:00Z"),        # as older records say it
                             ("5", "there was no champion before", "2026-03-01T00:00Z")):
        record(g, Decision(kind="promotion", subject=f"wasmops-{'anomaly' if version == '2' else 'cost'}",
                           verdict="promoted", explanation=why, output={"version": version, "at": at}), commit=False)
    out = " ".join(_history(monkeypatch, tmp_path, "--at", "2026-02-01T00:00Z").output.split())
    assert "why it was promoted" in out and "v2" in out and "no champion yet" not in out
    assert out.count("there was no champion before") == 1 and "no promotion recorded before then" in out


_metrics = st.fixed_dictionaries({"roc_auc": st.floats(0, 1), "pr_auc": st.floats(0, 1)})


@given(cand=_metrics, champ=st.one_of(st.none(), _metrics), synthetic=st.booleans(), allow=st.booleans())
def test_a_promotion_of_a_synthetic_model_says_so_and_names_the_flag(cand, champ, synthetic, allow):
    from models.registry import _gate

    promote, reason = _gate("anomaly", cand, champ, 0.005, "1" if champ else None, synthetic, allow)
    if synthetic and not allow:
        assert not promote and "--allow-synthetic" in reason
    if promote and synthetic:
        assert "synthetic" in reason and "allowed by --allow-synthetic" in reason
    if not synthetic:
        assert "synthetic" not in reason
