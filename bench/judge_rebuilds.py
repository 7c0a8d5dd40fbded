"""The release judge against the real host: N rebuilds with no change, then one ×2 fuel regression.

Issue 12 asks that, against the real host, a release with a ×2 fuel-per-call regression is rolled
back by the release judge and 20 rebuilds of the same source with no change are not. Each rebuild
changes only a tag string inside the module (new bytes, so a new wasm digest and a real release,
same work per call). Every release is the production flow (`flows.release.release`): build, test,
policy, sign, publish, commit, reconcile the real host (`wasmops host` in a child process), verify,
and the AI check (the previous digest admitted again beside the new one and both sampled interleaved,
a fresh baseline; paired judge). Runs under a
throwaway Prefect server (`prefect_test_harness`). Prints each verdict; asserts nothing.

Run: .venv/bin/python bench/judge_rebuilds.py [N=20]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.gitops_helpers import add_manifest  # noqa: E402
from support.host import HostProcess, make_workspace  # noqa: E402


def main(n: int) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from flows.release import AnomalyRolledBack, release
    from wasmops.demo.modules import worker_module

    with tempfile.TemporaryDirectory() as td, prefect_test_harness(server_startup_timeout=300):
        ws = make_workspace(Path(td) / "ws")
        hp = HostProcess(ws)
        hp.start()
        os.environ["WASMOPS_HOME"] = str(ws.home)
        try:
            add_manifest(ws, "dev/judged", "judged")
            src = worker_module(Path(td) / "judged", "judged", 20000, "v0")
            first = release(module_dir=str(src), target="dev/judged", auto_approve=True, ai_requests=30)
            print(f"first release: {first['ai_verdict']['judge']} (no predecessor)")
            verdicts, t0 = Counter(), time.perf_counter()
            for i in range(1, n + 1):
                worker_module(src, "judged", 20000, f"rebuild-{i}")
                try:
                    r = release(module_dir=str(src), target="dev/judged", auto_approve=True, ai_requests=30)
                    verdict = r["ai_verdict"]["judge"]
                except AnomalyRolledBack as exc:
                    verdict = f"ROLLED BACK ({exc})"
                verdicts[verdict.split(" ")[0]] += 1
                print(f"rebuild {i:2d}/{n}: {verdict}", flush=True)
            print(f"no-change rebuilds: {dict(verdicts)}; rollbacks {verdicts.get('ROLLED', 0)} of {n} "
                  f"(goal 0), {time.perf_counter() - t0:.0f} s")
            worker_module(src, "judged", 40000, "double")
            try:
                r = release(module_dir=str(src), target="dev/judged", auto_approve=True, ai_requests=30)
                print(f"×2 fuel per call: NOT rolled back, verdict {r['ai_verdict']['judge']} (goal: rolled back)")
            except AnomalyRolledBack as exc:
                print(f"×2 fuel per call: rolled back (goal met): {exc}")
        finally:
            hp.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
