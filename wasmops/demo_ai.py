"""The demo's AI and FinOps steps (``make demo``): real traffic → telemetry → GX → models → verdicts,
an AI-caught bad release rolled back, and a cost summary per team."""

from __future__ import annotations




def extra_steps(demo) -> None:
    demo.step("real traffic → telemetry → GX → champion models in MLflow", lambda: _train(demo))
    demo.step("score live telemetry: verdicts with explanations", lambda: _score(demo))
    demo.step("AI-verified release: anomalous v3 rolled back and quarantined", lambda: _ai_release(demo))
    demo.step("cost per team", lambda: _cost(demo))


def _traffic(demo, n: int = 300) -> None:
    demo.wasmops("telemetry", "collect")
    demo.wasmops("load", "dev/greet-c={\"who\": \"demo\"}", "dev/sum-wat=[1,2,3]", "dev/upper-zig={\"text\": \"hi\"}",
                 "-n", str(n))
    demo.wasmops("telemetry", "collect")


def _train(demo) -> str:
    _traffic(demo)
    out = demo.wasmops("models", "train", "--days", "28", "--modules", "12").stdout.decode()
    lines = [line for line in out.splitlines() if line.startswith(("anomaly:", "cost:"))]
    return " | ".join(line.split(";")[0] for line in lines)


def _score(demo) -> str:
    _traffic(demo, 200)
    out = demo.wasmops("score", "--window-minutes", "10").stdout.decode()
    verdicts = [" ".join(line.split()[:3]) for line in out.splitlines() if "sha256:" in line]
    return "; ".join(verdicts[:4]) or out.strip()[-200:]


def _ai_release(demo) -> str:
    from .config import Settings
    from .gitops import GitOpsRepo
    s = Settings(home=demo.home)
    before = GitOpsRepo.from_settings(s).desired().deployments["dev/sum-wat"].spec.module_ref.digest
    p = demo.release_fault("slow-sum.wat")
    text = p.stdout.decode()
    after = GitOpsRepo.from_settings(s).desired().deployments["dev/sum-wat"].spec.module_ref.digest
    if p.returncode == 0 or after != before:
        raise RuntimeError("the anomalous release was not rolled back:\n" + text[-1500:])
    why = next((line.split("post-deploy AI verdict anomalous:", 1)[1].strip() for line in text.splitlines()
                if "post-deploy AI verdict anomalous:" in line), "anomalous")
    return f"v3 rolled back to {before[7:19]}: {why[:110]}"


def _cost(demo) -> str:
    out = demo.wasmops("cost", "report", "--by", "team").stdout.decode()
    demo.log.write(out.encode())
    from .config import Settings
    from .desired import load_desired_state
    from .finops import attribute, report
    from .telemetry import Store

    s = Settings(home=demo.home)
    costs = attribute(Store.open(s).read(), load_desired_state(s.gitops_dir).pricing)
    rows = report(costs, by="team").reset_index().to_dict("records")
    summary = ", ".join(f"{r['team']} {r['total_cost']:.6f} USD (idle {r['idle_cost']:.6f})" for r in rows)
    return f"{summary}; chart {s.home / 'reports' / 'cost-team.png'}"
