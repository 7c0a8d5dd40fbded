"""The demo's AI and FinOps steps (``make demo``): real traffic → telemetry → GX → models → verdicts,
an AI-caught bad release rolled back, and a cost summary per team."""

from __future__ import annotations

import re
from collections import Counter


def extra_steps(demo) -> None:
    demo.step("synthetic history → GX → models in MLflow (synthetic: only with --allow-synthetic)", lambda: _train(demo))
    demo.step("score telemetry: champion verdicts, challenger in shadow", lambda: _score(demo))
    demo.step("governance: label a verdict, champion vs challenger, alias history", lambda: _governance(demo))
    demo.step("AI-verified release: anomalous v3 rolled back and quarantined", lambda: _ai_release(demo))
    demo.step("cost per team", lambda: _cost(demo))


def _traffic(demo, n: int = 300) -> None:
    demo.wasmops("telemetry", "collect")
    demo.wasmops("load", "dev/greet-c={\"who\": \"demo\"}", "dev/sum-wat=[1,2,3]", "dev/upper-zig={\"text\": \"hi\"}",
                 "-n", str(n))
    demo.wasmops("telemetry", "collect")


def _train(demo) -> str:
    """The demo's live modules have minutes of history, less than the training minimum (they get
    hold; their releases go to the release judge). The models learn from synthetic history, which
    must be allowed explicitly: the first training shows the gate refusing it."""
    _traffic(demo)
    demo.wasmops("telemetry", "synth", "--modules", "12", "--days", "28")
    refused = demo.wasmops("models", "train").stdout.decode()
    out = demo.wasmops("models", "train", "--allow-synthetic").stdout.decode()
    def said(text: str, kinds=("anomaly:", "cost:")) -> list[str]:   # "anomaly: wasmops-anomaly v2 promoted"
        return [line.split(" (")[0].strip() for line in text.splitlines() if line.startswith(kinds)]

    first = next(iter(said(refused, ("anomaly:",))), "nothing trained")
    return (f"without --allow-synthetic: {first} (data.synthetic=true); with it: "
            f"{'; '.join(said(out)) or 'nothing trained'}.")


def _score(demo) -> str:
    _traffic(demo, 200)
    out = demo.wasmops("score", "--window-minutes", "180").stdout.decode()
    return score_summary(out)


_VERDICT = re.compile(r"^(shadow v\S+ )?(\S+) manifest (?:sha256:\S+|-): (\S+)")


def score_summary(out: str) -> str:
    """Verdicts counted per side (champion, shadow) and, as the example, an `anomalous` one, else any
    other than `hold`. The summary showed the first lines in name order, which were the live modules'
    `hold` (minutes of history, no baseline): a step titled "champion verdicts" showed none."""
    seen = [(m.group(1) is not None, m.group(3), line) for line in (raw.strip() for raw in out.splitlines())
            if (m := _VERDICT.match(line))]
    if not seen:
        return "no verdicts"
    said = "; ".join(f"{side}: " + ", ".join(f"{n} {v}" for v, n in sorted(c.items())) for side, c in
                     (("champion", Counter(v for sh, v, _ in seen if not sh)),
                      ("shadow", Counter(v for sh, v, _ in seen if sh))) if c)
    champion = [(v, line) for sh, v, line in seen if not sh] or [(v, line) for _, v, line in seen]
    example = next((line for v, line in champion if v == "anomalous"),
                   next((line for v, line in champion if v != "hold"), champion[0][1]))
    return f"{said}; e.g. {example}"


def _governance(demo) -> str:
    import json

    from wasmops.config import Settings
    from wasmops.gitops.decisions import list_decisions

    s = Settings(home=demo.home)
    shadow = next((d for d in list_decisions(s.gitops_dir, kind="anomaly", shadow=True)
                   if d.refers_to and d.verdict != "hold"), None)
    if shadow is not None:
        demo.wasmops("decisions", "label", shadow.refers_to, "--correct", "--reason", "demo: checked by hand")
    rows = json.loads(demo.wasmops("models", "compare", "--json").stdout.decode() or "[]")
    hist = demo.wasmops("models", "history").stdout.decode()
    demo.wasmops("models", "history", "--at", "now")
    agree = ", ".join(f"{r['role']} v{r['version']} {r['agree']}/{r['labelled']}" for r in rows) or "no labels"
    return f"compare: {agree}; {sum('promoted' in line for line in hist.splitlines())} promotion(s) in the history"


def _ai_release(demo) -> str:
    from wasmops.config import Settings
    from wasmops.gitops.repo import GitOpsRepo
    s = Settings(home=demo.home)
    before = GitOpsRepo.from_settings(s).desired().deployments["dev/sum-wat"].spec.module_ref.digest
    p = demo.release_fault("slow-sum.wat")
    text = p.stdout.decode()
    after = GitOpsRepo.from_settings(s).desired().deployments["dev/sum-wat"].spec.module_ref.digest
    if p.returncode == 0 or after != before:
        raise RuntimeError("the anomalous release was not rolled back:\n" + text[-1500:])
    from wasmops.gitops.decisions import list_decisions

    d = next(iter(list_decisions(s.gitops_dir, subject="dev/sum-wat", kind="release-verdict")), None)
    if d is not None:
        _print_verdict_table(d)
    return f"v3 rolled back to {before[7:19]}: {d.explanation if d else 'anomalous'}"


def _print_verdict_table(d) -> None:
    """The release judge's per-metric table, as the decision record keeps it."""
    from rich.table import Table

    from wasmops.demo.shared import con

    t = Table(title=f"release judge for {d.subject}: {d.verdict}", title_justify="left")
    for c in ("metric", "baseline", "new", "effect", "p", "n", "class"):
        t.add_column(c, no_wrap=c != "metric", overflow="fold")

    def g(v) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    for r in d.output.get("metrics", []):
        t.add_row(r["metric"], g(r.get("baseline_centre")), g(r.get("canary_centre")), g(r.get("effect")),
                  g(r.get("p_value")), f"{r.get('n_baseline')}/{r.get('n_canary')}", str(r.get("classification")))
    con.print(t)


def _cost(demo) -> str:
    out = demo.wasmops("cost", "report", "--by", "team").stdout.decode()
    demo.log.write(out.encode())
    from wasmops.config import Settings
    from wasmops.gitops.desired import load_desired_state
    from wasmops.finops import attribute, report
    from wasmops.telemetry import Store

    s = Settings(home=demo.home)
    store = Store.open(s)
    samples = store.without_synthetic(store.read())  # the training step's synthetic history is no cost
    costs = attribute(samples, load_desired_state(s.gitops_dir).pricing)
    rows = report(costs, by="team").reset_index().to_dict("records")
    summary = ", ".join(f"{r['team']} {r['total_cost']:.6f} USD (idle {r['idle_cost']:.6f})" for r in rows)
    return f"{summary}; chart {s.home / 'reports' / 'cost-team.png'}"
