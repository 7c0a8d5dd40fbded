"""The parallel stage's file order (tests/support/file_order.py), on generated collections."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from hypothesis import given, strategies as st

from support.file_order import from_durations, longest_first


@dataclass(frozen=True)
class Item:
    nodeid: str


files = st.sampled_from([f"tests/t{i}.py" for i in range(6)])
collections = st.lists(st.tuples(files, st.integers(0, 50)), max_size=40, unique=True).map(
    lambda pairs: [Item(f"{f}::test_{n}") for f, n in pairs])
weight_maps = st.dictionaries(files, st.floats(0, 500, allow_nan=False))


@given(collections, weight_maps)
def test_every_item_runs_once_files_stay_whole_in_their_order_heaviest_first(items, w):
    out = longest_first(items, w)
    assert sorted(i.nodeid for i in out) == sorted(i.nodeid for i in items)
    order = [i.nodeid.split("::")[0] for i in out]
    runs = [f for k, f in enumerate(order) if k == 0 or order[k - 1] != f]
    assert len(runs) == len(set(runs))                                    # each file in one block
    for f in runs:                                                        # the collected order within it
        assert [i for i in out if i.nodeid.startswith(f + "::")] == [i for i in items if i.nodeid.startswith(f + "::")]
    default = statistics.median(w.values()) if w else 0.0                # a file not weighed: the median
    got = [w.get(f, default) for f in runs]
    assert got == sorted(got, reverse=True)


def test_durations_are_summed_per_file_and_other_lines_ignored():
    log = ("12.50s call     tests/a.py::test_x\n 3.00s setup    tests/a.py::test_y[1]\n"
           "0.20s teardown tests/b/c.py::T::test_z\n(40 durations < 0.005s hidden.)\n== 3 passed ==\n")
    assert from_durations(log) == {"tests/a.py": 15.5, "tests/b/c.py": 0.2}
