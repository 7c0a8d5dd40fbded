"""Waste: idle modules, over-provisioned memory and fuel limits, with the monthly saving of each.

From telemetry samples and the desired state (the GitOps repo) :func:`recommend` finds:

* **idle** — a deployed module (replicas > 0) with samples for the last ``idle_days`` days and no
  invocation in them. Saving: all its reserved memory (``replicas × memory × 730 h × price``) if
  scaled to zero. The change is an annotation (``wasmops.dev/idle``): scaling to zero is left to
  the owner.
* **memory** — a limit far above use: the recommendation is the next power-of-two MiB at or above
  ``max(p99 × headroom, largest peak)`` (at least 1 MiB), where p99 is the largest per-window
  ``memory_p99`` over the lookback and headroom 1.5. It is made when the current limit is at least
  ``memory_factor`` (2) times that. Saving: ``(limit − recommended) × replicas × 730 h × price``.
* **fuel** — a CPU limit (fuel per request = millicores × 1e6) far above the p99 fuel per call:
  the recommendation is the fewest millicores whose fuel is at least ``p99 × 2``. Saving: 0 —
  fuel is billed as consumed, the limit only caps a runaway request; it is recommended for safety.

:func:`apply_recommendations` writes them into the manifests and commits on a branch
(``wasmops/rightsizing-YYYYMMDD``); main is untouched, so nothing changes without a review.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Literal

import pandas as pd


from wasmops.gitops import yamledit
from wasmops.gitops.manifest import FUEL_PER_MILLICORE, WasmModuleDeployment
from ..units import format_size, parse_cpu_millis
from .money import PER_GIB_HOUR, money, to_decimal, window_ns
from .prices import as_pricebook

HOURS_PER_MONTH = 730          # 8760 / 12: an average month
MIB = 1 << 20
ANNOTATION_IDLE = "wasmops.dev/idle"
ANNOTATION_NOTE = "wasmops.dev/rightsizing"


@dataclass
class Recommendation:
    kind: Literal["idle", "memory", "fuel"]
    key: str                       # namespace/name
    team: str
    current: str                   # "64Mi", "500m", "2 replicas × 16Mi"
    recommended: str               # "4Mi", "20m", "scale to zero"
    reason: str
    monthly_saving: Decimal
    currency: str = "USD"
    saving_note: str = ""
    evidence: dict = field(default_factory=dict)

    def summary(self) -> str:
        saving = (f"saves {money(self.monthly_saving)} {self.currency}/month" if self.monthly_saving
                  else f"saves 0 {self.currency}/month ({self.saving_note})")
        return f"{self.key}: {self.kind} {self.current} → {self.recommended}: {self.reason}; {saving}"


def next_pow2_mib(nbytes: float) -> int:
    """The smallest power-of-two MiB >= ``nbytes`` (at least 1 MiB), in bytes."""
    mib = max(1, math.ceil(nbytes / MIB))
    return (1 << (mib - 1).bit_length()) * MIB


def _memory_cost_month(nbytes: int, price_units: int) -> Decimal:
    return to_decimal(nbytes * HOURS_PER_MONTH * 3600 * price_units * PER_GIB_HOUR)


def recommend(samples: pd.DataFrame, desired, prices=None, *, now: datetime | None = None,
              lookback_days: int = 14, idle_days: int = 7, memory_factor: float = 2.0,
              headroom: float = 1.5, fuel_factor: float = 2.0, fuel_safety: float = 2.0) -> list[Recommendation]:
    """Recommendations for every deployment in ``desired`` that has samples (telemetry schema)."""
    book = as_pricebook(prices if prices is not None else desired)
    now = (now or datetime.now(timezone.utc))
    now = now.astimezone(timezone.utc) if now.tzinfo else now.replace(tzinfo=timezone.utc)
    mem_price = book.entry_for("memory-gib-hour", now)
    cur = book.currency
    if samples is None or not len(samples):
        return []
    groups = _recent(samples, now, lookback_days)
    out: list[Recommendation] = []
    for key, m in sorted(desired.deployments.items()):
        ns, name = key.split("/", 1)
        g = groups.get((ns, name))
        if g is None or not len(g) or m.spec.replicas == 0:
            continue
        out += _for_module(m, g, now, cur, mem_price.units, idle_days=idle_days, memory_factor=memory_factor,
                           headroom=headroom, fuel_factor=fuel_factor, fuel_safety=fuel_safety)
    return out


#: Telemetry a module needs before its memory or fuel limit is sized from it (a day: daily peaks seen).
MIN_HISTORY_HOURS = 24


def _recent(samples: pd.DataFrame, now: datetime, lookback_days: int) -> dict:
    """``(namespace, module) -> samples`` of the lookback, with ``_ts`` and the window start ``_start``."""
    ts = pd.to_datetime(samples["ts"], utc=True)
    recent = samples[(ts > now - timedelta(days=lookback_days)) & (ts <= now)].copy()
    recent["_ts"] = ts[recent.index]
    recent["_start"] = recent["_ts"] - pd.to_timedelta(window_ns(recent["window_s"].to_numpy()), unit="ns")
    return dict(tuple(recent.groupby(["namespace", "module"], sort=False)))


def short_history(samples: pd.DataFrame, desired, *, now: datetime | None = None,
                  lookback_days: int = 14) -> list[dict]:
    """Deployed modules (replicas > 0) with less than :data:`MIN_HISTORY_HOURS` of telemetry in the
    lookback, which :func:`recommend` cannot size yet: ``{module, history_hours, needed_hours}``.
    "no recommendations" said nothing about why when there was simply not enough history."""
    now = now or datetime.now(timezone.utc)
    now = now.astimezone(timezone.utc) if now.tzinfo else now.replace(tzinfo=timezone.utc)
    groups = _recent(samples, now, lookback_days) if samples is not None and len(samples) else {}
    out = []
    for key, m in sorted(desired.deployments.items()):
        g = groups.get(tuple(key.split("/", 1)))
        hours = 0.0 if g is None or not len(g) else (g["_ts"].max() - g["_start"].min()).total_seconds() / 3600
        if m.spec.replicas > 0 and hours < MIN_HISTORY_HOURS:
            out.append({"module": key, "history_hours": round(hours, 2), "needed_hours": MIN_HISTORY_HOURS})
    return out


def _for_module(m: WasmModuleDeployment, g: pd.DataFrame, now: datetime, cur: str, price_units: int, *,
                idle_days: int, memory_factor: float, headroom: float, fuel_factor: float,
                fuel_safety: float) -> list[Recommendation]:
    team = m.metadata.labels.get("team", "")
    replicas, limit = m.spec.replicas, m.memory_bytes
    idle_from = now - timedelta(days=idle_days)
    window = g[g["_ts"] > idle_from]
    covered = g["_start"].min() <= idle_from
    if covered and int(window["invocations"].sum()) == 0:
        used = g[g["invocations"] > 0]
        last = used["_ts"].max().date().isoformat() if len(used) else None
        saving = _memory_cost_month(replicas * limit, price_units)
        return [Recommendation(
            "idle", m.key, team, f"{replicas} × {format_size(limit)}", "scale to zero",
            f"no invocations for {idle_days} days" + (f" (last on {last})" if last else ""), saving, cur,
            "if scaled to zero; the annotation alone changes nothing",
            {"idle_days": idle_days, "last_invocation": last, "since": idle_from.date().isoformat()})]
    active = g[g["invocations"] > 0]
    if not len(active) or (g["_ts"].max() - g["_start"].min()) < timedelta(hours=MIN_HISTORY_HOURS):
        return []         # sizing from minutes of telemetry proposed 16Mi -> 2Mi after five of them
    recs = []
    p99 = float(active["memory_p99"].max())
    peak = int(g["peak_memory"].max())
    want = next_pow2_mib(max(p99 * headroom, peak))
    if limit >= memory_factor * want:
        saving = _memory_cost_month((limit - want) * replicas, price_units)
        recs.append(Recommendation(
            "memory", m.key, team, format_size(limit), format_size(want),
            f"p99 memory {p99 / MIB:.2f} MiB (peak {peak / MIB:.2f} MiB) × {headroom} headroom fits in "
            f"{format_size(want)}", saving, cur, "",
            {"memory_p99": p99, "peak_memory": peak, "limit": limit, "replicas": replicas}))
    fuel_p99 = float(active["fuel_p99_per_call"].max())
    millis = parse_cpu_millis(m.spec.runtime_config.resources.cpu)
    want_m = max(1, math.ceil(fuel_p99 * fuel_safety / FUEL_PER_MILLICORE))
    if fuel_p99 > 0 and millis >= fuel_factor * want_m:
        recs.append(Recommendation(
            "fuel", m.key, team, f"{millis}m", f"{want_m}m",
            f"p99 fuel per call {fuel_p99:,.0f} × {fuel_safety} fits in {want_m}m "
            f"({want_m * FUEL_PER_MILLICORE:,} fuel); the limit is {millis * FUEL_PER_MILLICORE:,}",
            Decimal(0), cur, "fuel is billed as consumed; a lower limit caps runaway requests but saves "
                             "nothing at current use",
            {"fuel_p99_per_call": fuel_p99, "fuel_per_request": millis * FUEL_PER_MILLICORE}))
    return recs


def _edit(data: dict, rec: Recommendation, today: str) -> None:
    meta = data.setdefault("metadata", {})
    notes = meta.setdefault("annotations", {}) or {}
    meta["annotations"] = notes
    res = data.setdefault("spec", {}).setdefault("runtimeConfig", {}).setdefault("resources", {})
    if rec.kind == "idle":
        notes[ANNOTATION_IDLE] = (f"no invocations for {rec.evidence.get('idle_days')} days as of {today}; "
                                  f"scale to zero to save {money(rec.monthly_saving)} {rec.currency}/month")
    elif rec.kind == "memory":
        res["memory"] = rec.recommended
    elif rec.kind == "fuel":
        res["cpu"] = rec.recommended
    if rec.kind != "idle":
        prev = notes.get(ANNOTATION_NOTE)
        line = f"{today} {rec.kind} {rec.current} -> {rec.recommended}"
        notes[ANNOTATION_NOTE] = f"{prev}; {line}" if prev else line


@dataclass(frozen=True)
class Applied:
    """Where the rightsizing change is: ``created`` False when a branch already held the very same files."""

    branch: str
    sha: str
    created: bool


def _same_change(repo, texts: dict[str, str]) -> str | None:
    """A ``wasmops/rightsizing-*`` branch whose head holds exactly ``texts`` (rel → file text), if any."""
    for head in sorted(repo.repo.heads, key=lambda h: h.name):
        if not head.name.startswith("wasmops/rightsizing-"):
            continue
        try:
            if all(head.commit.tree[rel].data_stream.read().decode() == t for rel, t in texts.items()):
                return head.name
        except KeyError:            # a file the branch does not have
            continue
    return None


def propose_rightsizing(repo, recs: list[Recommendation], branch: str | None = None, *,
                        today: date | None = None) -> Applied:
    """Edit the manifests per ``recs`` and commit them on ``branch`` (main is untouched), unless a
    rightsizing branch already holds the same change: a second ``--apply`` made an identical
    ``…-2`` branch. ``repo`` is a :class:`~wasmops.gitops.repo.GitOpsRepo`."""
    today = today or datetime.now(timezone.utc).date()
    branch = branch or f"wasmops/rightsizing-{today:%Y%m%d}"
    if not recs:
        return Applied("", repo.head, False)
    files: dict[str, dict] = {}
    for rec in recs:
        path = repo.manifest_file(rec.key)
        rel = str(path.relative_to(repo.path))
        if rel not in files:
            files[rel] = yamledit.load(path)      # comments and flow style ({GREETING: hello}) kept
        _edit(files[rel], rec, today.isoformat())
    texts = {rel: yamledit.dumps(d) for rel, d in files.items()}
    found = _same_change(repo, texts)
    if found is not None:
        return Applied(found, repo.repo.heads[found].commit.hexsha, False)
    cur = recs[0].currency
    body = "\n".join(f"- {r.summary()}" for r in recs)
    msg = (f"rightsizing: {len(recs)} recommendation(s), {money(total_saving(recs))} {cur}/month\n\n{body}\n\n"
           f"Proposed on a branch; merge after review.\nWasmops-Actor: wasmops\n")
    res = repo.write_files(texts, msg, branch=branch)
    made = next(h.name for h in repo.repo.heads if h.name.startswith(branch) and h.commit.hexsha == res.sha)
    return Applied(made, res.sha, True)


def apply_recommendations(repo, recs: list[Recommendation], branch: str | None = None, *,
                          today: date | None = None) -> str:
    """:func:`propose_rightsizing`'s commit sha (main's head when there was nothing to change)."""
    return propose_rightsizing(repo, recs, branch, today=today).sha


def total_saving(recs: list[Recommendation]) -> Decimal:
    return sum((r.monthly_saving for r in recs), Decimal(0))


__all__ = ["Applied", "Recommendation", "apply_recommendations", "propose_rightsizing", "short_history", "next_pow2_mib", "recommend", "total_saving",
           "HOURS_PER_MONTH"]
