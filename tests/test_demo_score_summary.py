"""`make demo`'s score step: its one-line summary must say what the verdicts were.

It showed the first two champion lines in name order and the first shadow line; on the demo's
workspace those were the live modules' `hold` (no baseline), so a step titled "champion verdicts"
showed only holds while twelve `ok` verdicts were printed further down.
"""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

from hypothesis import given, strategies as st

from wasmops.demo.ai import _score
from wasmops.digests import shown

VERDICTS = ("ok", "anomalous", "hold")
subjects = st.from_regex(r"(dev|prod|edge)/[a-z][a-z0-9-]{0,12}", fullmatch=True)
digests = st.one_of(st.none(), st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: f"sha256:{h}"))
explanations = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=60)
verdicts = st.tuples(st.booleans(), subjects, digests, st.sampled_from(VERDICTS), explanations)
monitors = st.tuples(subjects, st.sampled_from(("ok", "hold")), explanations)


class FakeDemo:
    def __init__(self, score_out: str):
        self.score_out = score_out

    def wasmops(self, *args):
        return SimpleNamespace(stdout=(self.score_out if args[0] == "score" else "").encode())


def _line(shadow: bool, subject: str, digest: str | None, verdict: str, why: str) -> str:
    """As `wasmops score` prints a verdict (wasmops/cli/ops.py)."""
    return f"{'shadow v1 ' if shadow else ''}{subject} {shown('manifest', digest)}: {verdict} {why}"


@given(st.lists(verdicts, min_size=1, max_size=25), st.lists(monitors, max_size=4))
def test_the_summary_counts_every_verdict_and_shows_one_that_is_not_hold(rows, mons):
    lines = [_line(*r) for r in rows] + [f"monitor {s}: {v} {w}" for s, v, w in mons]
    summary = _score(FakeDemo("\n".join(lines) + "\n"))
    champion = Counter(v for sh, _, _, v, _ in rows if not sh)
    shadow = Counter(v for sh, _, _, v, _ in rows if sh)
    head, _, example = summary.partition("; e.g. ")
    for side, counts in (("champion", champion), ("shadow", shadow)):
        if counts:
            part = next(p for p in head.split("; ") if p.startswith(f"{side}: "))
            assert sorted(part.removeprefix(f"{side}: ").split(", ")) == sorted(f"{n} {v}" for v, n in counts.items())
    wanted = ("anomalous",) if champion["anomalous"] else ("ok", "anomalous") if champion["ok"] else VERDICTS
    shown_line = next(r for r, ln in zip(rows, lines) if ln.strip() == example)     # one of the lines printed
    assert shown_line[3] in wanted and (not shown_line[0] or not champion)


def test_no_verdicts():
    assert _score(FakeDemo("monitor dev/x: hold 3 windows of history\n")) == "no verdicts"
