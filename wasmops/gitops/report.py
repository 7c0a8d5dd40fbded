"""The outcome of one reconcile pass: each module's conditions (Flux-style), what comes next for it
(``done``, ``stalled`` or ``waiting``), and how callers act on it (``raise_for_status``, ``converged``).

    >>> from wasmops.gitops.plan import Plan
    >>> rep = ReconcileReport(Plan([]), next={"dev/a": DONE, "dev/b": STALLED},
    ...                       conditions={"dev/b": {"Ready": Condition("Ready", FALSE, "AdmissionRefused", "denied")}})
    >>> rep.converged("dev/a"), rep.converged("dev/b"), rep.ok
    (True, False, False)
    >>> rep.raise_for_status("dev/a")
    >>> rep.raise_for_status("dev/b")
    Traceback (most recent call last):
    ...
    wasmops.errors.Stalled: dev/b: 1 module(s) stalled: dev/b: denied
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from wasmops.errors import Stalled, Waiting
from wasmops.gitops.plan import Action, Drift, Plan, _fmt

TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"
DONE, STALLED, WAITING = "done", "stalled", "waiting"
WAITING_DELAY_S = 4.0     # a waiting module (host unreachable, not healthy yet) is looked at again after this
NEXT_TEXT = {STALLED: "stalled: a person must act", WAITING: "waiting: retrying later can help", DONE: ""}


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: str          # "True" | "False" | "Unknown"
    reason: str
    message: str = ""


# Ready, summarised from the other conditions: the first matching row wins; no match means Ready=True.
# (condition, status, reasons or None for any) -> (Ready status, Ready reason, what happens next)
READY_TABLE: list[tuple[str, str, tuple[str, ...] | None, str, str, str]] = [
    ("ManifestValid", FALSE, None, FALSE, "InvalidManifest", STALLED),
    ("Quarantined", TRUE, None, FALSE, "Quarantined", STALLED),
    ("SignatureVerified", FALSE, None, FALSE, "SignatureNotVerified", STALLED),
    ("Admitted", FALSE, ("Unavailable",), FALSE, "HostUnavailable", WAITING),
    ("Admitted", FALSE, None, FALSE, "AdmissionRefused", STALLED),
    ("Admitted", UNKNOWN, ("DryRun",), UNKNOWN, "DryRun", DONE),
    ("Admitted", UNKNOWN, ("NotReleased",), UNKNOWN, "NotReleased", DONE),
    ("Admitted", UNKNOWN, ("PruneHeld",), UNKNOWN, "PruneHeld", DONE),
    ("DriftDetected", TRUE, ("DriftReported",), FALSE, "DriftDetected", STALLED),
    ("Healthy", FALSE, None, FALSE, "Unhealthy", WAITING),
    ("Healthy", UNKNOWN, ("Timeout",), UNKNOWN, "HealthTimeout", WAITING),
]


def summarise_ready(conds: dict[str, Condition]) -> tuple[Condition, str]:
    """``Ready`` and what happens next, from ``READY_TABLE``."""
    for ctype, status, reasons, r_status, r_reason, nxt in READY_TABLE:
        c = conds.get(ctype)
        if c and c.status == status and (reasons is None or c.reason in reasons):
            msg = f"{c.message} — {NEXT_TEXT[nxt]}" if NEXT_TEXT[nxt] else c.message
            return Condition("Ready", r_status, r_reason, msg), nxt
    adm = conds.get("Admitted")
    return _ready(adm.reason if adm else "UpToDate", adm.message if adm else ""), DONE


@lru_cache(maxsize=256)
def _ready(reason: str, message: str) -> Condition:
    return Condition("Ready", TRUE, reason, message)   # shared: a no-op apply of 10k modules allocates little


# -- comparing Git with the host ---------------------------------------------------------------

@dataclass
class ReconcileReport:
    plan: Plan
    drift: list[Drift] = field(default_factory=list)
    conditions: dict[str, dict[str, Condition]] = field(default_factory=dict)
    applied: list[Action] = field(default_factory=list)       # actions the host accepted
    next: dict[str, str] = field(default_factory=dict)         # key -> done | stalled | waiting
    mode: str = "heal"
    dry_run: bool = False
    error: str | None = None                                   # the whole reconcile failed (host down)
    skipped: bool = False                                      # nothing changed since the last pass

    def summary(self) -> str:
        """One line: what the plan did and where each module stands."""
        states = {}
        for n in self.next.values():
            states[n] = states.get(n, 0) + 1
        tail = ", ".join(f"{v} {k}" for k, v in sorted(states.items()))
        n = len({d.key for d in self.drift})                   # one Drift per changed field: count modules
        drift = f"; drift in {n} module{'s' * (n != 1)}" if self.drift else ""
        err = f"; error: {self.error}" if self.error else ""
        drift += f"; {len(self.invalid)} broken manifest(s)" if self.invalid else ""
        return f"{self.mode}: {self.plan.summary() or 'nothing to do'}" + (f" → {tail}" if tail else "") + drift + err

    @property
    def ok(self) -> bool:
        """Every valid manifest in scope converged. Broken manifests are in :attr:`invalid` (and
        :attr:`stalled`); they do not make a release of another module fail."""
        bad = self.invalid
        return self.error is None and all(n == DONE for k, n in self.next.items() if k not in bad)

    @property
    def complete(self) -> bool:
        """Git's whole desired state in scope is served: ``ok`` and no broken manifest."""
        return self.ok and not self.invalid

    @property
    def invalid(self) -> dict[str, str]:
        """Broken manifests in scope: report key → ``file: field: problem``."""
        return {a.key: a.invalid for a in self.plan if a.invalid}

    @property
    def stalled(self) -> list[str]:
        return [k for k, n in self.next.items() if n == STALLED]

    @property
    def waiting(self) -> list[str]:
        return [k for k, n in self.next.items() if n == WAITING]

    def converged(self, key: str | None = None) -> bool:
        """``key`` is served as Git says (None: ``ok``, every valid manifest in scope)."""
        return self.ok if key is None else self.error is None and self.next.get(key, DONE) == DONE

    def raise_for_status(self, key: str | None = None) -> None:
        """``Waiting`` (retryable) if the host is unreachable or a module is waiting, else ``Stalled``
        if one is stalled. With ``key`` only that module counts: another module stalled in the same
        namespace is reported in the conditions, not raised."""
        scope = [key] if key else list(self.next)
        waiting = [k for k in scope if self.next.get(k) == WAITING]
        stalled = [k for k in scope if self.next.get(k) == STALLED]
        why = "; ".join(f"{k}: {self.conditions[k]['Ready'].message}" for k in (waiting or stalled)
                        if k in self.conditions)
        if self.error or waiting:
            raise Waiting(self.error or f"{len(waiting)} module(s) waiting: {why}", where=key, delay=WAITING_DELAY_S)
        if stalled:
            raise Stalled(f"{len(stalled)} module(s) stalled: {why}", where=key, hint="a person must act")

    def rows(self) -> list[dict[str, str]]:
        """One row per module (for a rich table): module, action, ready, reason, next, message."""
        kinds = {a.key: a.kind for a in self.plan}
        return [{"module": k, "action": kinds.get(k, "-"), "ready": c["Ready"].status, "reason": c["Ready"].reason,
                 "next": self.next.get(k, DONE), "message": c["Ready"].message} for k, c in self.conditions.items()]

    def to_markdown(self) -> str:
        """A Markdown summary for a Prefect artifact: the plan, one row per module, then the drift."""
        rev = f" @ {self.plan.revision[:12]}" if self.plan.revision else ""
        head = f"### Reconcile ({self.mode}{', dry run' if self.dry_run else ''}){rev}: {self.plan.summary()}"
        lines = [head, "", f"**{'OK' if self.ok else 'NOT OK'}**" + (f" — {self.error}" if self.error else ""), ""]
        lines += ["| Module | Action | Ready | Reason | Next | Message |", "|---|---|---|---|---|---|"]
        lines += ["| " + " | ".join(_md(v) for v in r.values()) + " |" for r in self.rows()]
        if self.drift:
            lines += ["", "| Drifted module | Field | Host | Git |", "|---|---|---|---|"]
            lines += [f"| {d.key} | {d.field} | {_md(_fmt(d.field, d.live))} | {_md(_fmt(d.field, d.git))} |"
                      for d in self.drift]
        return "\n".join(lines) + "\n"


def _md(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")
