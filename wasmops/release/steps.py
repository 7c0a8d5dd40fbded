"""What each release step hands to the next: small frozen records, no Prefect.

The release flow (``flows/release.py``) wires tasks; each task returns one of these. The digest
names are fixed: ``wasm_digest`` is the sha256 of the ``.wasm`` bytes (build, test, policy, sign),
``manifest_digest`` the OCI manifest the module is published as (publish, commit, approval,
reconcile, verify, rollback). Both are ``sha256:<hex>`` strings (``wasmops.digests``).

    >>> b = Built(name="greet", path="/tmp/greet.wasm", wasm_digest="sha256:" + "ab" * 32,
    ...           source_digest="sha256:" + "cd" * 32, toolchain="wat2wasm")
    >>> b.tag
    'abababababab'
    >>> GateVerdict("needs_approval", "over budget", "| a |").needs_approval
    True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from wasmops.digests import hex_of

if TYPE_CHECKING:
    from wasmops.supply.source import ModuleSource


@dataclass(frozen=True)
class Built:
    """The build step's output: the ``.wasm`` file and its digest."""

    name: str
    path: str
    wasm_digest: str
    source_digest: str
    toolchain: str
    module_dir: str = ""

    @property
    def tag(self) -> str:
        """The release tag: the first 12 hex characters of the wasm digest."""
        return hex_of(self.wasm_digest)[:12]


@dataclass(frozen=True)
class Tested:
    """The module's test cases passed in the sandbox (``report``: ``testrun`` table as a dict)."""

    wasm_digest: str
    report: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PolicyChecked:
    """The ModulePolicy allowed the module at ``trust_level``."""

    wasm_digest: str
    trust_level: str
    facts: dict = field(default_factory=dict)
    policy: Any = None


@dataclass(frozen=True)
class Signed:
    """The Sigstore bundle signing the wasm bytes."""

    wasm_digest: str
    bundle_path: str
    bundle_digest: str


@dataclass(frozen=True)
class Published:
    """The OCI artifact: ``ref`` (with tag), its ``manifest_digest``, and the signature referrer."""

    ref: str
    manifest_digest: str
    wasm_digest: str
    layer_digest: str = ""
    bundle_manifest_digest: str = ""


@dataclass(frozen=True)
class Committed:
    """The release commit in the GitOps repo (``changed`` False: Git already held it)."""

    sha: str
    changed: bool


@dataclass(frozen=True)
class GateVerdict:
    """The budget gate: ``ok``, ``needs_approval`` (a person must approve) or ``blocked``."""

    outcome: str
    message: str = ""
    markdown: str = ""

    @classmethod
    def of(cls, gate: dict) -> GateVerdict:
        """From the budget-gate task's ``{"outcome", "message", "markdown"}``."""
        return cls(outcome=gate["outcome"], message=gate.get("message") or "", markdown=gate.get("markdown") or "")

    @property
    def blocked(self) -> bool:
        return self.outcome == "blocked"

    @property
    def needs_approval(self) -> bool:
        return self.outcome == "needs_approval"


@dataclass(frozen=True)
class FleetServing:
    """Git holds the manifest digest for the target and the host serves it healthy."""

    key: str
    manifest_digest: str
    commit: str
    finished: bool = True       # its release verified (and judged): False after an interrupted release


@dataclass(frozen=True)
class Verified:
    """The module's test cases through the host after the switch."""

    passed: bool
    ran: int
    not_run: int
    summary: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Baseline:
    """Probe samples of the digest serving before the switch (what the release judge compares with),
    and how to admit that digest again (``deploy``: the host's deploy body, for a fresh baseline beside
    the new digest after the switch; None: not possible). ``fresh``: these samples were taken after
    the switch, interleaved with the new digest's."""

    manifest_digest: str
    samples: dict
    deploy: dict | None = None
    fresh: bool = False
    looks: int = 1           # the sequential judge's looks the fresh samples took (wasmops.ai.judge_sequential)


@dataclass(frozen=True)
class AiVerdict:
    """The release judge after the switch: ``verdict`` ok | anomalous | hold (``judge``: its raw verdict)."""

    verdict: str
    judge: str
    score: float
    explanation: str
    subject: str
    metrics: list = field(default_factory=list)
    looks: int = 1            # sequential looks the judge took (wasmops.ai.judge_sequential)
    requests: int = 0         # probe requests a side it judged

    @property
    def anomalous(self) -> bool:
        return self.verdict == "anomalous"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Proposal:
    """What an approval is asked about: the artifact that would serve ``key`` (the wasm digest is
    unknown for a rollback, which proposes taking the current artifact away)."""

    manifest_digest: str
    tag: str
    wasm_digest: str | None = None
    bundle_manifest_digest: str = ""

    @classmethod
    def release(cls, built: Built, pub: Published) -> Proposal:
        return cls(manifest_digest=pub.manifest_digest, tag=pub.ref.rsplit(":", 1)[-1],
                   wasm_digest=built.wasm_digest, bundle_manifest_digest=pub.bundle_manifest_digest)

    @classmethod
    def rollback(cls, module_ref) -> Proposal:
        """The version Git holds now (``spec.moduleRef``), the one a rollback takes away."""
        return cls(manifest_digest=module_ref.digest or "", tag=module_ref.tag or "")


#: Expected run endings the release judge probes with: any exit code and a trap end a run at once;
#: the others run the module into a limit (fuel, time, memory, stack, output) on every probe.
PROBED_ERRORS = (None, "trap")


class Probe(bytes):
    """A probe's request body, and how its run is meant to end (``expect``: None for exit 0, else
    ``exit=N`` or ``trap``, sent as ``X-Wasmops-Expect`` so the host does not count it as an error)."""

    def __new__(cls, body: bytes, expect: str | None = None):
        self = super().__new__(cls, body)
        self.expect = expect
        return self

    def __reduce__(self):
        return (Probe, (bytes(self), self.expect))


def probe_bodies(src: ModuleSource, env: dict[str, str] | None = None, args: list[str] | None = None) -> list[bytes]:
    """The request bodies the release judge sends: stdin of the test cases the host runs as written
    under the deployment's ``env`` and ``args`` (verify's rule, ``why_not_runnable``: the case's args
    and env exactly the deployment's, a body the host takes) that end at once: with any exit code, or a trap (an input
    that fails on purpose is a path whose fuel can regress too; both digests fail it alike, so its
    errors pair up, and the host counts them as expected, not as errors). ``{}`` when there is none."""
    from wasmops.supply.testrun import expected_end, why_not_runnable

    return [Probe(c.stdin_bytes, expected_end(c))
            for c in src.tests if c.expect_error in PROBED_ERRORS and why_not_runnable(c, env, args) is None] or [b"{}"]
