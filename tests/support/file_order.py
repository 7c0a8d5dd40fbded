"""The order test files reach the parallel workers: the longest first.

``pytest -n 2 --dist loadfile`` hands whole files to whichever worker is free, in collection order
(alphabetical). The longest files sat near the end (``test_onboard.py``, ``test_up_beside_host.py``),
so one worker ran such a file alone while the other had nothing left: the tail of the run. Handing
out the longest files first (longest-processing-time scheduling) leaves only short files for the end.

The weights are each file's summed test durations from a past run (``file_weights.json``); a file
not listed there counts as the median. Refresh them from a ``--durations=0`` log with
``python tests/support/file_order.py LOG``. Only the order changes: every test still runs.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path

WEIGHTS = Path(__file__).with_name("file_weights.json")
_LINE = re.compile(r"([\d.]+)s (?:call|setup|teardown)\s+(\S+?)::")


def weights() -> dict[str, float]:
    try:
        return {str(k): float(v) for k, v in json.loads(WEIGHTS.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def longest_first(items: list, weight_of: dict[str, float]) -> list:
    """``items`` (pytest items) regrouped by file, the heaviest file first; within a file the
    collected order is kept, and files of equal weight keep their collected order."""
    default = statistics.median(weight_of.values()) if weight_of else 0.0
    files: dict[str, list] = {}
    for it in items:
        files.setdefault(it.nodeid.split("::", 1)[0], []).append(it)
    ranked = sorted(files, key=lambda f: -weight_of.get(f, default))     # sorted() is stable
    return [it for f in ranked for it in files[f]]


def from_durations(log: str) -> dict[str, float]:
    """Per-file summed seconds from pytest's ``--durations=0`` report."""
    out: dict[str, float] = {}
    for line in log.splitlines():
        m = _LINE.match(line.strip())
        if m:
            out[m.group(2)] = round(out.get(m.group(2), 0.0) + float(m.group(1)), 1)
    return out


if __name__ == "__main__":
    found = from_durations(Path(sys.argv[1]).read_text())
    if not found:
        sys.exit(f"{sys.argv[1]}: no '--durations=0' lines in it")
    WEIGHTS.write_text(json.dumps(dict(sorted(found.items(), key=lambda kv: -kv[1])), indent=0) + "\n")
    print(f"{WEIGHTS}: {len(found)} files, {sum(found.values()):.0f} s in all")
