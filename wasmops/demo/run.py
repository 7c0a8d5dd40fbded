"""``make demo``: the main job end to end on embedded defaults, with a short summary at the end.

A fresh workspace under ./.wasmops → Prefect server + host → release the example modules to dev
(auto-approved) → a prod release paused and answered with ``wasmops approve`` → a drift detected
and healed → a bad release rolled back and quarantined → (AI loop and cost summary when those
layers are present) → where everything is → stop what it started.

Every step runs the real ``wasmops`` CLI in a subprocess; their output goes to .wasmops/logs/demo.log.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.table import Table

from wasmops.config import Settings
from wasmops.demo.shared import REPO, con

FAULTS = Path(__file__).resolve().parents[1] / "defaults" / "faults"  # deliberately bad module versions


class Demo:
    def __init__(self) -> None:
        self.home = Path(os.environ.get("WASMOPS_HOME", Path.cwd() / ".wasmops")).resolve()
        self.log = None
        self.results: list[tuple[str, str, float]] = []
        self.env = {**os.environ, "WASMOPS_HOME": str(self.home), 
                    "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
                    "MLFLOW_DISABLE_TELEMETRY": "true"}

    def wasmops(self, *args: str, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess:
        cmd = [str(Path(sys.executable).with_name("wasmops")), *args]
        self.log.write(f"\n$ wasmops {' '.join(args)}\n".encode())
        self.log.flush()
        p = subprocess.run(cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO)
        self.log.write(p.stdout)
        self.log.flush()
        if check and p.returncode != 0:
            raise RuntimeError(f"`wasmops {' '.join(args)}` failed:\n{p.stdout.decode()[-3000:]}")
        return p

    def step(self, title: str, fn) -> None:
        t0 = time.perf_counter()
        with con.status(f"[bold]{title}[/] …"):
            try:
                detail = fn() or ""
            except Exception as exc:
                self.results.append((title, f"[red]FAILED[/]: {exc}", time.perf_counter() - t0))
                con.print(f"[red]✗[/] {title}: {exc}")
                raise
        dt = time.perf_counter() - t0
        self.results.append((title, detail, dt))
        con.print(f"[green]✓[/] {title} [dim]({dt:.1f}s)[/] {detail}")

    # -- steps ---------------------------------------------------------------------------------
    def fresh_workspace(self) -> str:
        if self.home.exists():
            from wasmops.services import Services

            Services(Settings(home=self.home)).stop()
            for child in self.home.iterdir():
                if child.name != "cache":  # keep compiled modules and build outputs: they are content-addressed
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(exist_ok=True)
        self.log = open(self.home / "logs" / "demo.log", "ab")
        self.wasmops("init")
        return f"{self.home}"

    def start_services(self) -> str:
        from wasmops.services import Services

        svc = Services(Settings(home=self.home))
        p = svc.start_prefect()
        self.env["PREFECT_API_URL"] = f"{p.url}/api"
        h = svc.start_host()
        self.env["WASMOPS_HOST_URL"] = h.url
        return f"Prefect {p.url}, host {h.url}"

    def release_dev(self) -> str:
        out = []
        for mod in ("sum-wat", "greet-c", "upper-zig"):
            self.wasmops("release", f"examples/{mod}", "--auto-approve")
            out.append(mod)
        live = self._live()
        r = self._run("dev", "greet-c", '{"who": "demo"}')
        return f"{', '.join(out)} serving ({len(live)} live); greet-c says {r}"

    def onboard(self) -> str:
        """A module nobody shipped before: scaffold → test → add → release; its error case answers
        through the host with the module's own stdout."""
        d = self.home / "src" / "wordstat"
        if d.exists():
            shutil.rmtree(d)
        self.wasmops("new", "wordstat", "--language", "c", "--dir", str(d))
        self.wasmops("test", str(d))
        self.wasmops("add", str(d), "--target", "dev/wordstat", "--team", "search", "--project", "words")
        self.wasmops("release", str(d), "--target", "dev/wordstat", "--auto-approve", "--no-ai-check")
        ok = self._run("dev", "wordstat", "hello wasm world")
        from wasmops.host.client import HostClient

        err = HostClient(self.env["WASMOPS_HOST_URL"]).run("dev", "wordstat", "")
        return (f"dev/wordstat serving: {ok}; empty input → HTTP {err.status_code}, exit "
                f"{err.headers.get('x-wasmops-exit-code')}, body {err.text.strip()}")

    def approval(self) -> str:
        cmd = [str(Path(sys.executable).with_name("wasmops")), "release", "examples/greet-c", "--target",
               "prod/greet-c", "--approval-timeout", "300"]
        proc = subprocess.Popen(cmd, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO)
        deadline = time.monotonic() + 240
        runs = []
        while time.monotonic() < deadline:
            runs = json.loads(self.wasmops("approvals", "--json", capture=True).stdout or b"[]")
            if runs:
                break
            if proc.poll() is not None:
                raise RuntimeError("the prod release ended before pausing; see .wasmops/logs/demo.log")
            time.sleep(1)
        if not runs:
            proc.kill()
            raise RuntimeError("no paused release appeared")
        run_id = runs[0]["id"]
        self.wasmops("approve", run_id, "--reason", "demo: change window open", "--approver", "demo-operator")
        if proc.wait(240) != 0:
            raise RuntimeError("the approved prod release failed; see .wasmops/logs/demo.log")
        return f"run {run_id[:8]} paused, approved by demo-operator via `wasmops approve`; prod/greet-c serving"

    def drift(self) -> str:
        from wasmops.host.client import HostClient

        hc = HostClient(self.env["WASMOPS_HOST_URL"], (self.home / "host" / "token").read_text().strip())
        live = {f"{m['namespace']}/{m['name']}": m for m in hc.modules()}
        m = live["dev/greet-c"]
        hc.deploy("dev", "greet-c", ref=m["ref"], digest=m["digest"], trust_level=m["trust_level"],
                  limits=m["limits"], env={"GREETING": "hacked"}, labels=m["labels"], replicas=m["replicas"])
        before = self._run("dev", "greet-c", '{"who": "demo"}')
        rep = self.wasmops("reconcile", "--mode", "report", check=False).stdout.decode()
        if "drift" not in rep.lower():
            raise RuntimeError("drift was not detected:\n" + rep[-1500:])
        self.wasmops("reconcile")
        after = self._run("dev", "greet-c", '{"who": "demo"}')
        return f"hand edit made greet-c say {before}; detected in report mode; healed → {after}"

    def bad_release(self) -> str:
        from wasmops.gitops.repo import GitOpsRepo

        s = Settings(home=self.home)
        repo = GitOpsRepo.from_settings(s)
        good = repo.desired().deployments["dev/sum-wat"].spec.module_ref.digest
        head = repo.head
        # v2 passes `wasmops test` under module.yaml's 16Mi; the deployment grants 8Mi, and the release's
        # test step runs the cases as the host will: stopped there, before anything is committed
        p = self.release_fault("memory-hungry-sum.wat", limits={"memory": "16Mi"})
        out = (p.stdout or b"").decode() + (p.stderr or b"").decode()
        if p.returncode == 0 or "deployment's limits" not in " ".join(out.split()):
            raise RuntimeError("the bad release was not stopped at its test step:\n" + out[-1500:])
        repo = GitOpsRepo.from_settings(s)
        served = {f"{m['namespace']}/{m['name']}": m["digest"] for m in self._live()}["dev/sum-wat"]
        assert repo.head == head and repo.desired().deployments["dev/sum-wat"].spec.module_ref.digest == good == served
        return (f"v2 needs 12 MiB, the deployment grants 8Mi: its test case failed under the deployment's limits "
                f"(the hint names modules/dev/sum-wat.yaml); nothing committed, {good[7:19]} serves on")

    def release_fault(self, fault: str, limits: dict | None = None) -> subprocess.CompletedProcess:
        """Release sum-wat with its source replaced by ``defaults/faults/<fault>`` (one passing unit test;
        ``limits``: module.yaml's limits changed so)."""
        import yaml

        with tempfile.TemporaryDirectory() as td:
            mod = Path(td) / "sum-wat"
            shutil.copytree(REPO / "examples" / "sum-wat", mod)
            (mod / "sum.wat").write_text((FAULTS / fault).read_text())
            y = yaml.safe_load((mod / "module.yaml").read_text())
            y["tests"] = [{"name": "sums", "stdin": "[1,2,3]", "expect_stdout": '{"sum": 6}'}]
            y["limits"] = {**y.get("limits", {}), **(limits or {})}
            (mod / "module.yaml").write_text(yaml.safe_dump(y, sort_keys=False))
            return self.wasmops("release", str(mod), "--auto-approve", check=False)

    def where(self) -> str:
        t = Table(title="where everything is (kept after the demo)", title_justify="left")
        t.add_column("what")
        t.add_column("where", overflow="fold")
        for what, rel in (("GitOps repo", "gitops"), ("OCI layout", "oci"), ("signing key", "keys"),
                          ("decision records", "gitops/audit/decisions"), ("MLflow store", "mlflow.db"),
                          ("telemetry store", "telemetry.db"), ("demo log", "logs/demo.log")):
            t.add_row(what, str(self.home / rel))
        con.print(t)
        return ""

    def _live(self) -> list[dict]:
        from wasmops.host.client import HostClient

        return HostClient(self.env["WASMOPS_HOST_URL"], (self.home / "host" / "token").read_text().strip()).modules()

    def _run(self, ns: str, name: str, body: str) -> str:
        from wasmops.host.client import HostClient

        r = HostClient(self.env["WASMOPS_HOST_URL"]).run(ns, name, body)
        return r.text.strip()

    def summary(self) -> None:
        t = Table(title="wasmops demo", title_justify="left")
        t.add_column("step")
        t.add_column("result", overflow="fold")
        t.add_column("s", justify="right")
        for title, detail, dt in self.results:
            t.add_row(title, detail, f"{dt:.1f}")
        con.print(t)


def main() -> int:
    demo = Demo()
    t0 = time.perf_counter()
    ok = True
    try:
        demo.step("fresh workspace", demo.fresh_workspace)
        demo.step("start Prefect server and host", demo.start_services)
        demo.step("release example modules to dev (auto-approved)", demo.release_dev)
        demo.step("a new module: new → test → add → release (its error case keeps its stdout)", demo.onboard)
        demo.step("prod release paused for approval, answered by `wasmops approve`", demo.approval)
        from wasmops.demo.approvals import approval_policy

        demo.step("prod release under a 2-of-3 ApprovalPolicy: signed `wasmops approve --key`",
                  lambda: approval_policy(demo))
        from wasmops.demo.canary import canary

        demo.step("canary 10 → 50 → 100 judged against stable: one promoted, one ×2 regression aborted",
                  lambda: canary(demo))
        demo.step("drift made behind Git's back: detected, then healed", demo.drift)
        demo.step("bad release: stopped at its test step, run as the host will run it", demo.bad_release)
        try:
            from wasmops.demo.ai import extra_steps  # the AI and FinOps steps, when those layers exist
        except ImportError:
            extra_steps = None
        if extra_steps:
            extra_steps(demo)
        demo.where()
    except Exception:  # noqa: BLE001 - reported in the summary
        ok = False
    finally:
        from wasmops.services import Services

        stopped = Services(Settings(home=demo.home)).stop()
        demo.summary()
        con.print(f"The demo stopped what it started ({', '.join(stopped) or 'nothing was running'}); "
                  f"nothing of it runs now. Total {time.perf_counter() - t0:.0f}s; full log: "
                  f"{demo.home / 'logs' / 'demo.log'}.", soft_wrap=True)
        con.print("To look around: `wasmops up` starts the Prefect server with its UI (http://127.0.0.1:4200), "
                  "the MLflow UI (http://127.0.0.1:5000), the host and the "
                  "deployment runner on this workspace; `wasmops down` stops them.", soft_wrap=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
