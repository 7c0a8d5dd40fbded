"""A canary step's real traffic: the error rates stable and canary showed over the step's window.

The release judge compares both digests on the module's probe inputs (its test cases). A canary
that fails only on inputs no test case sends (found from outside: a build exiting 1 on any body
with an ``x`` answered half the real traffic with 502 at 20 % and 50 %, and was promoted) is only
visible in what the host counted for each digest: ``wasmops_invocations_total`` and
``wasmops_errors_total`` (failures a probe expected are counted apart, so they are not errors).
Two scrapes, at the start and the end of the step, give each digest's calls and errors in the
window; the canary fails when its error rate is higher than stable's by a one-sided two-proportion
z-test at ``z_crit`` (3.29, the judge's two-sided 0.001) *and* by at least ``floor`` (absolute)
and ``ratio`` x, and it made at least ``min_errors`` errors. The step's own probes are not in these
series (the host counts them in ``wasmops_probe_*``, ``wasmops.host.metrics``), so the rates are the
real traffic's alone; a step without real traffic is ``nodata``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class LiveCheck:
    verdict: str                  # "pass" | "fail" | "nodata"
    explanation: str
    stable: tuple[float, float]   # (calls, errors) in the window
    canary: tuple[float, float]


def _delta(before: dict, after: dict, digest: str) -> tuple[float, float]:
    b, a = before.get(digest, (0.0, 0.0)), after.get(digest, (0.0, 0.0))
    if a[0] < b[0]:               # the series restarted (a host restart): count from zero
        b = (0.0, 0.0)
    return max(a[0] - b[0], 0.0), max(a[1] - b[1], 0.0)


def _z(s: tuple[float, float], c: tuple[float, float]) -> float:
    p = (s[1] + c[1]) / (s[0] + c[0])
    se = math.sqrt(p * (1 - p) * (1 / s[0] + 1 / c[0]))
    return math.inf if se == 0 else (c[1] / c[0] - s[1] / s[0]) / se


def judge_window(before: dict, after: dict, stable: str, canary: str, *, z_crit: float = 3.29,
                 floor: float = 0.01, ratio: float = 1.5, min_errors: int = 3) -> LiveCheck:
    """Stable vs canary over the window between two ``wasmops.telemetry.scrape.digest_counts`` (see the module docstring)."""
    s, c = _delta(before, after, stable), _delta(before, after, canary)
    if s[0] <= 0 or c[0] <= 0:
        return LiveCheck("nodata", "no calls of one side counted in the window", s, c)
    rs, rc = s[1] / s[0], c[1] / c[0]
    text = (f"live error rate canary {rc:.1%} ({c[1]:.0f} of {c[0]:.0f} calls) vs stable {rs:.1%} "
            f"({s[1]:.0f} of {s[0]:.0f})")
    bad = (c[1] >= min_errors and rc - rs >= floor and rc >= ratio * rs and _z(s, c) >= z_crit)
    return LiveCheck("fail" if bad else "pass", text, s, c)
