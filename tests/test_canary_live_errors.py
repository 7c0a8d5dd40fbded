"""A canary that fails only on inputs no test case sends must not be promoted: its real traffic's
errors, as the host counts them per digest over the step's window, hold the step for a person (found from
outside, 2026-12-07: a build exiting 1 on any body with an ``x`` served 502 to half the real
traffic at 20 % and 50 % and was promoted on a clean probe verdict)."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings, strategies as st

from wasmops.ai.live_errors import judge_window
from wasmops.telemetry.scrape import digest_counts as counts
from wasmops.ai.release_judge import ReleaseVerdict


def _digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def _metrics(ns: str, mod: str, per_digest: dict[str, tuple[int, int, int]]) -> str:
    """/metrics text as the host writes it: (calls, errors, expected failures) per digest."""
    lines = []
    for d, (calls, errs, expected) in per_digest.items():
        lb = f'digest="{d}",module="{mod}",namespace="{ns}",project="p",team="t"'
        lines.append(f"wasmops_invocations_total{{{lb}}} {calls}.0")
        lines.append(f'wasmops_errors_total{{{lb},reason="exit_nonzero"}} {errs}.0')
        lines.append(f"wasmops_expected_failures_total{{{lb}}} {expected}.0")
    return "\n".join(lines) + "\n"


names = st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(ns=names, mod=names, calls=st.integers(200, 5000), frac=st.floats(0.2, 0.9),
       base_calls=st.integers(0, 10**6), expected=st.integers(0, 500))
def test_a_canary_erring_on_real_traffic_fails_and_an_equal_one_passes(ns, mod, calls, frac, base_calls, expected):
    stable, canary, other = _digest(ns + "s"), _digest(mod + "c"), _digest("other")
    before = counts(_metrics(ns, mod, {stable: (base_calls, 1, 0), canary: (0, 0, 0)}), ns, mod)
    bad = counts(_metrics(ns, mod, {stable: (base_calls + calls, 1, expected), canary: (calls, int(calls * frac),
                                                                                       expected),
                                    other: (9, 9, 0)}), ns, mod)
    out = judge_window(before, bad, stable, canary)
    assert out.verdict == "fail", out
    assert out.canary == (calls, int(calls * frac))
    same = counts(_metrics(ns, mod, {stable: (base_calls + calls, 1 + calls // 10, expected),
                                     canary: (calls, calls // 10, expected)}), ns, mod)
    assert judge_window(before, same, stable, canary).verdict == "pass"


def test_other_modules_and_a_restarted_series_are_not_counted():
    s, c = _digest("a"), _digest("b")
    text = _metrics("dev", "m", {s: (100, 0, 0), c: (100, 0, 0)}) + _metrics("dev", "m2", {c: (100, 90, 0)})
    after = counts(text, "dev", "m")
    assert after == {s: (100.0, 0.0), c: (100.0, 0.0)}
    assert judge_window({s: (500.0, 0.0), c: (0.0, 0.0)}, after, s, c).verdict == "pass"   # restart: from zero
    assert judge_window({}, {s: (10.0, 0.0)}, s, c).verdict == "nodata"


def test_the_step_is_held_for_a_person_on_live_errors_even_when_the_probes_pass():
    from tasks.canary import _with_live_errors

    s, c = _digest("x"), _digest("y")
    probes = ReleaseVerdict(verdict="pass", score=100.0, explanation="4 metric rows, none regressed")
    v, live = _with_live_errors(probes, {s: (0.0, 0.0), c: (0.0, 0.0)}, {s: (400.0, 0.0), c: (100.0, 50.0)}, s, c)
    assert v.verdict == "hold" and "live error rate canary 50.0%" in v.explanation, v   # not promoted, not quarantined
    assert live["verdict"] == "fail"
    v, live = _with_live_errors(probes, None, {}, s, c)
    assert v.verdict == "pass" and live["verdict"] == "nodata"
