"""The release flow's AI check: the new digest against the previous one, request by request.

Just before a release switches the host, the same requests that will probe the new digest are
sent to the digest that serves now (the *baseline*); just after verify, they go to the new digest
(the *canary*). Each request reports its own fuel, wall time, peak memory and outcome in the
host's ``X-Wasmops-*`` headers (docs/spec/host-api.md), so both sides are per-request samples of
the same inputs on the same host minutes apart, which is as close to Kayenta's concurrent
baseline as a one-version host allows. ``wasmops.ai.release_judge.judge`` compares them per metric,
under the policy in Git (``policies/release-judge.yaml``). Request ``i`` of both sides carries the
same probe body, so the samples are **paired** by slot: equal-length samples are judged pair by
pair (``wasmops.ai.judge_paired``: Wilcoxon signed-rank on the per-slot differences, with the
effect-size floors), which cancels what the input does to both sides; a lost request (transport
error, or answered by another digest) is NaN in its slot and its pair is dropped. Samples of
unequal length fall back to the unpaired Mann-Whitney U. The verdict carries ``judge_version``::

    >>> v = judge_samples({"fuel_per_call": [2000.0] * 20, "error_rate": [0.0] * 20},
    ...                   {"fuel_per_call": [4000.0] * 20, "error_rate": [0.0] * 20}, default_policy())
    >>> v.verdict, v.failed, v.judge_version
    ('fail', ['fuel_per_call'], '5-sequential')
    >>> judge_samples({"fuel_per_call": [100.0] * 20, "error_rate": [0.0] * 20},     # under FUEL_FLOOR
    ...               {"fuel_per_call": [200.0] * 20, "error_rate": [0.0] * 20}, default_policy()).verdict
    'pass'

A module with no live predecessor has no baseline: the verdict is ``hold`` (nothing to compare,
never a pass and never a rollback).

Minutes apart is still apart: on a shared machine the wall time of a short call moves by half
between two batches seconds apart (a fresh module's no-change release was judged ``marginal`` on
``latency_ms`` that way). So after the switch the release re-admits the previous digest beside the
new one at weight 0 and samples both in alternating pinned batches (:func:`interleaved`), as a
canary step does: Kayenta's fresh baseline. The samples taken before the switch are the fallback.

Interleaved sampling is judged in sequential looks (:func:`judge_interleaved`,
``wasmops.ai.judge_sequential``): an inconclusive look takes as many requests again, up to
``max_looks``; a pass needs a x1.5 regression ruled out on every critical metric.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
from pathlib import Path

import yaml
from pydantic import ValidationError

from wasmops.errors import TransientError, spec_error_from_pydantic
from wasmops.ai.release_judge import JudgePolicy, MetricPolicy, ReleaseVerdict, judge

METRICS = ("fuel_per_call", "latency_ms", "peak_memory", "error_rate")
POLICY_FILE = "policies/release-judge.yaml"
#: Fuel per call a shift is at least measured against: ~1,000 wasm instructions, well under 1 µs,
#: under 2 % of the ~60 µs a request costs the host at best (bench/host.py's bare loop). A module of
#: ~160 fuel a request (a WAT validator) was rolled back for +40 instructions (+25 %); with the
#: floor a fuel regression must add >= 200 instructions a call (min_effect 0.2) to fail.
FUEL_FLOOR = 1000.0
#: Peak memory likewise: 1 MiB (16 wasm pages); one more 64 KiB page is not a regression.
MEMORY_FLOOR = float(2**20)


def default_policy() -> JudgePolicy:
    """Per-request metrics. Fuel and memory are exact for the same input, so any real shift shows;
    latency on a shared machine is noisy, so it counts in the score but cannot fail a release alone.
    Fuel and memory have absolute floors (``FUEL_FLOOR``, ``MEMORY_FLOOR``): a shift is measured
    against at least that much, so a tiny module may change by a few instructions or a page."""
    return JudgePolicy(metrics={
        "fuel_per_call": MetricPolicy(weight=2.0, abs_floor=FUEL_FLOOR),
        "peak_memory": MetricPolicy(weight=1.0, abs_floor=MEMORY_FLOOR),
        "latency_ms": MetricPolicy(weight=1.0, critical=False, min_effect=0.5),
        "error_rate": MetricPolicy(weight=2.0, centre="mean", abs_floor=1e-3),
    })


def load_policy(gitops_dir: Path) -> JudgePolicy:
    """``policies/release-judge.yaml`` from the GitOps repo (``spec:`` holds JudgePolicy fields),
    else :func:`default_policy`. The file is read over :func:`default_policy`: a metric it leaves
    out, or a field of a metric it leaves out, is the default's. So a file seeded before the fuel and
    memory floors (``fuel_per_call: {weight: 2}``) gets them, and a file that names no metrics
    judges the release check's metrics, not the generic judge's."""
    p = Path(gitops_dir) / POLICY_FILE
    if not p.exists():
        return default_policy()
    try:
        doc = yaml.safe_load(p.read_text()) or {}
        spec = doc.get("spec", doc)
        if isinstance(spec, dict):
            spec = {**spec, "metrics": _over_defaults(spec.get("metrics"))}
        return JudgePolicy.model_validate(spec)
    except ValidationError as exc:
        raise spec_error_from_pydantic(exc, where=str(p)) from exc


def _over_defaults(metrics) -> object:
    """The file's ``metrics`` field by field over :func:`default_policy`'s (anything else as it is,
    for the schema to refuse)."""
    if metrics is None:
        metrics = {}
    if not isinstance(metrics, dict):
        return metrics
    defaults = {k: m.model_dump(exclude_unset=True) for k, m in default_policy().metrics.items()}
    out: dict = dict(defaults)
    for name, given in metrics.items():
        out[name] = {**defaults[name], **given} if name in defaults and isinstance(given, dict) else given
    return out


def sample_requests(client, namespace: str, name: str, bodies: list[bytes], n: int, *,
                    expect_digest: str | None = None, concurrency: int = 2) -> dict[str, list[float]]:
    """Send ``n`` requests (``bodies`` round-robin) and return per-request samples per metric, one
    slot per request in order (request ``i`` sends ``bodies[i % len(bodies)]``, so two calls with the
    same ``bodies`` and ``n`` pair up slot by slot). A request that failed in transport or was
    answered by another digest than ``expect_digest`` (a switch mid-way) is NaN in its slot.
    ``client``: a probing ``HostClient`` (``probe=True``, as the release tasks make it), so these runs
    are counted apart and not billed to the module's team."""
    from wasmops.host.client import run_result

    def one(i: int):
        body = bodies[i % len(bodies)]
        expect = getattr(body, "expect", None)       # a failing test case's input (release.steps.Probe)
        try:
            r = client.run(namespace, name, body, **({"expect": expect} if expect else {}))
        except TransientError:
            return None
        return run_result(r), r.headers.get("x-wasmops-digest")

    out: dict[str, list[float]] = {m: [] for m in METRICS}
    with cf.ThreadPoolExecutor(concurrency) as pool:
        for i, got in enumerate(pool.map(one, range(n))):
            if got is None or (expect_digest and got[1] != expect_digest):
                for m in METRICS:
                    out[m].append(math.nan)
                continue
            rr, _ = got
            out["fuel_per_call"].append(float(rr.fuel_used))
            out["latency_ms"].append(rr.duration_s * 1000)
            out["peak_memory"].append(float(rr.peak_memory))
            out["error_rate"].append(missed(rr, getattr(bodies[i % len(bodies)], "expect", None)))
    return out


def missed(result, expect: str | None) -> float:
    """A probe's ``error_rate`` sample: 1.0 when the run did not end as its test case says it ends
    (``expect``: ``exit=N`` or a reason such as ``trap``, as ``X-Wasmops-Expect`` carries it; None:
    a success), else 0.0. A failure the case asks for is the new version's specified answer, not an
    error: a version that starts refusing an input on purpose, with a case saying so, was rolled back
    on ``error_rate`` (docs/decisions.md, "Strangers' modules, fourth round"). The old version
    answering such an input the old way is a miss on its side, so the slot's two runs end unlike and
    only their outcome is compared (:func:`like_with_like`).

        >>> from wasmops.wasm.outcome import RunResult
        >>> ok = RunResult(exit_code=0, stdout=b"", stderr=b"", fuel_used=1, peak_memory=0, duration_s=0.0)
        >>> trap = RunResult(exit_code=None, stdout=b"", stderr=b"", fuel_used=1, peak_memory=0, duration_s=0.0,
        ...                  reason="trap")
        >>> missed(ok, None), missed(trap, None), missed(trap, "trap"), missed(ok, "trap"), missed(trap, "exit=2")
        (0.0, 1.0, 0.0, 1.0, 1.0)
    """
    from wasmops.host.metrics import expected

    if expect:
        return 0.0 if expected(str(expect).encode(), result) else 1.0
    return 0.0 if result.ok else 1.0


class _Pinned:
    """A HostClient whose runs are pinned to one digest (``X-Wasmops-Pin-Digest``)."""

    def __init__(self, hc, digest: str):
        self.hc, self.digest = hc, digest

    def run(self, namespace, name, body, **kw):
        return self.hc.run(namespace, name, body, pin=self.digest, **kw)


def interleaved(client, namespace: str, name: str, bodies: list[bytes], first: str, second: str, *,
                requests: int, pause_s: float = 0.0, idle: list | None = None) -> tuple[dict, dict]:
    """Samples of two digests the host serves side by side (stable and canary), over the same window:
    alternating pinned batches until ``pause_s`` is over and each side has at least ``requests``.
    Past 20 times as many, probing stops, but the step still lasts ``pause_s`` (the canary serves its
    weight of real traffic: the operator's bake time; found from outside, a 20 s pause had ended after
    2 s) and one more batch each is taken at its end; the time waited is appended to ``idle``. Both
    sides get the same number of slots, batch by batch, so they pair up by slot. A request answered by
    another digest is NaN in its slot."""
    import time

    got = {d: {m: [] for m in METRICS} for d in (first, second)}
    end, batch = time.monotonic() + pause_s, max(5, requests // 6)

    def one_batch_each() -> None:
        for d in (first, second):
            for m, v in sample_requests(_Pinned(client, d), namespace, name, bodies, batch, expect_digest=d).items():
                got[d][m].extend(v)

    while time.monotonic() < end or len(got[second]["error_rate"]) < requests:
        one_batch_each()
        if len(got[second]["error_rate"]) >= 20 * requests:
            if (left := end - time.monotonic()) > 0:
                time.sleep(left)                  # the rest of the bake, unprobed
                (idle if idle is not None else []).append(left)
                one_batch_each()                  # a look at the end of the bake
            break
    return got[first], got[second]


def judge_interleaved(client, namespace: str, name: str, bodies: list[bytes], first: str, second: str,
                      policy: JudgePolicy, *, requests: int, pause_s: float = 0.0) -> tuple[dict, dict, ReleaseVerdict]:
    """:func:`interleaved`, then as many alternating batches again while the sequential judge finds a
    look inconclusive (``wasmops.ai.judge_sequential``: at most ``policy.max_looks`` looks, each on
    twice the samples): ``(first's samples, second's samples, verdict)``. A later batch that either
    digest answered less than half of (e.g. removed by a reconcile) is dropped, and the look before
    it is the last; so is the look after which the next (twice the last batch's time) would end past
    ``policy.max_sampling_s``."""
    import time

    from wasmops.ai.judge_sequential import judge_until_conclusive

    got: list[tuple[dict, dict]] = []
    t0, last, idle = time.monotonic(), [0.0], []      # idle: a bake's unprobed wait is not sampling time

    def take(start: int, n: int) -> tuple[dict, dict]:
        if got and time.monotonic() - t0 - sum(idle) + 2 * last[0] > policy.max_sampling_s:   # next: twice the last
            return {}, {}
        t, waited = time.monotonic(), len(idle)
        b, c = interleaved(client, namespace, name, bodies, first, second, requests=n,
                           pause_s=pause_s if start == 0 else 0.0, idle=idle)
        last[0] = time.monotonic() - t - sum(idle[waited:])
        if got and min(_answered(b), _answered(c)) < len(c["error_rate"]) / 2:
            return {}, {}
        b, c = like_with_like(b, c)
        got.append((b, c))
        return b, c

    v = judge_until_conclusive(take, policy, first=requests)
    return ({m: [x for b, _ in got for x in b[m]] for m in METRICS},
            {m: [x for _, c in got for x in c[m]] for m in METRICS}, v)


def _answered(samples: dict) -> int:
    return sum(1 for x in samples["error_rate"] if x == x)      # NaN: lost, or answered by another digest


#: What a run cost; comparable between two runs only when both ended alike (``error_rate``).
COSTS = ("fuel_per_call", "latency_ms", "peak_memory")


def like_with_like(baseline: dict, canary: dict) -> tuple[dict, dict]:
    """Slot-paired samples with the cost of every slot whose two runs ended differently (one as its test
    case says, the other not: ``error_rate``'s samples, see :func:`missed`) blanked (NaN, so the pair is
    dropped) on both sides: an input the old version refused at once and the new one serves is new
    work, not a regression of it, and the other way round the outcome is what regressed
    (``error_rate`` keeps every slot)::

        >>> b, c = like_with_like({"fuel_per_call": [10.0, 50.0], "error_rate": [0.0, 1.0]},
        ...                       {"fuel_per_call": [11.0, 900.0], "error_rate": [0.0, 0.0]})
        >>> c["fuel_per_call"][0], math.isnan(c["fuel_per_call"][1]), c["error_rate"]
        (11.0, True, [0.0, 0.0])

    Samples of unequal length are not paired and are returned as they are. Not the test case's
    expected stdout: a case expecting the new version's output fails on the old one, and every slot's
    cost would go uncompared (tests/test_judge_outcomes.py)."""
    unlike = _unlike(baseline, canary)
    if not unlike:
        return baseline, canary

    def blank(samples: dict) -> dict:
        out = {m: list(v) for m, v in samples.items()}
        for m in COSTS:
            for i in (i for i in unlike if m in out and i < len(out[m])):
                out[m][i] = math.nan
        return out

    return blank(baseline), blank(canary)


def _unlike(baseline: dict, canary: dict) -> list[int]:
    """The slots both sides answered whose runs ended differently ([] when not paired)."""
    be, ce = list(baseline.get("error_rate", [])), list(canary.get("error_rate", []))
    if len(be) != len(ce):
        return []
    return [i for i, (x, y) in enumerate(zip(be, ce)) if x == x and y == y and x != y]    # NaN: lost


def judge_samples(baseline: dict[str, list[float]] | None, canary: dict[str, list[float]],
                  policy: JudgePolicy, looks: int = 1) -> ReleaseVerdict:
    """The verdict on samples already taken (``looks``: the sequential looks they took, see
    :func:`judge_interleaved`); ``hold`` when there is no baseline (a first release). Slot-paired
    where both sides have the same number of slots (see the module docstring), else unpaired. No
    more samples can be taken here, so this is the last look: judged at what the looks before it
    left of the budget (``judge_sequential.look_alpha``), and an inconclusive look is ``hold`` for a
    person. Samples that passed a look are not rolled back here by a critical row: none rose past its
    floor with ``p < extend_p``, and the larger level is at most ``sequential_alpha``."""
    from wasmops.ai.judge_sequential import judge_look

    if not baseline:
        empty = {m: [] for m in canary}
        v = judge(empty, canary, policy)
        v.explanation = "no previous digest served this module, so there is nothing to compare with"
        return v
    unlike = len(_unlike(baseline, canary))
    v = judge_look(*like_with_like(baseline, canary), policy, look=looks, last=True)
    if unlike:
        v.explanation += (f"; {unlike} of {len(canary.get('error_rate', []))} probe requests ended differently on "
                          "the two versions (one as its test case says, the other not): only their outcome is "
                          "compared, not their cost")
    return v


def _finite(xs) -> list[float]:
    return [x for x in (xs or []) if math.isfinite(x)]


def chart_png(baseline: dict[str, list[float]] | None, canary: dict[str, list[float]]) -> bytes:
    """Box plots, one panel per metric: the previous digest (baseline) beside the new one (canary)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = [m for m in METRICS if canary.get(m)]
    fig = Figure(figsize=(3 * max(1, len(names)), 3.2), dpi=90)
    FigureCanvasAgg(fig)
    for i, m in enumerate(names, 1):
        ax = fig.add_subplot(1, len(names), i)
        data = [_finite((baseline or {}).get(m)) or [0.0], _finite(canary[m]) or [0.0]]
        ax.boxplot(data, tick_labels=["baseline", "canary"] if baseline else ["(none)", "canary"])
        ax.set_title(m, fontsize="small")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
