"""The verdicts table the Prefect UI shows: plain text the UI font has (no emoji), one row per verdict
with every column, whatever the explanation holds (a pipe in it cannot break the table)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from wasmops.ai.verdicts import Verdict, markdown

_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), max_codepoint=0x25FF), max_size=80)


@given(st.lists(st.tuples(st.sampled_from(["ok", "anomalous", "hold"]), _text), min_size=1, max_size=5))
def test_rows_are_plain_text_with_every_column(items):
    vs = [Verdict(f"dev/m{i}", "sha256:" + "ab" * 32, verdict, why) for i, (verdict, why) in enumerate(items)]
    lines = markdown(vs).splitlines()
    assert len(lines) == 2 + len(vs)
    assert {line.count("|") for line in lines} == {5}
    assert not [c for c in markdown(vs) if ord(c) >= 0x1F000 or 0x2600 <= ord(c) < 0x2800 or c == "\ufe0f"]
