"""The one error hierarchy of wasmops.

Every error says what failed, where (file, field, module, reference) and whether retrying can
help. The retry decision is carried by the class, so Prefect's ``retry_condition_fn`` can ask
``exc.retryable`` instead of guessing from messages. What happens next is one of two things, as in
Flux: **stalled** (a person must act; retrying will not help) or **waiting** (retry after
``delay`` seconds). A transient error may say how long to wait (``delay``); ``Waiting`` always does::

    WasmopsError                      base: .where, .hint, .retryable, .delay, diagnostics()
    ├── UserError                     bad input from a person; the CLI prints it without a traceback
    │   ├── ConfigError               settings, workspace, missing files
    │   ├── SpecError                 a YAML/JSON document fails validation (file + field)
    │   ├── ToolchainMissing          a compiler the build needs is not installed
    │   ├── BuildFailed               the compiler rejected the source
    │   ├── PolicyDenied              a module breaks the policy for its trust level
    │   ├── SignatureError            a bundle does not verify (tampered, untrusted, garbage)
    │   ├── QuarantinedError          a digest is quarantined in Git
    │   └── NotFound                  an artifact, tag, module or run that does not exist
    ├── IntegrityError                a digest does not match what was asked for
    ├── TestFailed                    a module's test cases did not all pass
    │   ├── VerifyFailed              ... through the host after deploy (rolled back, digest quarantined)
    │   └── NotVerified               no case could run through the host (rolled back, not quarantined)
    ├── ReleaseStopped                a release did not go through, by decision
    │   ├── BudgetBlocked             a strict budget refused it before commit
    │   ├── ApprovalRejected          a person rejected it, or the approval timed out
    │   └── AnomalyRolledBack         the post-deploy AI verdict rolled it back
    ├── TransientError                retrying can help (network, registry down, busy); optional .delay
    │   ├── RegistryUnavailable       the OCI registry did not answer in time
    │   └── Waiting                   not ready yet, retry after .delay seconds (host not healthy yet)
    ├── Stalled                       cannot go on until a person acts (retrying will not help)
    └── SandboxError                  a trap or limit breach while running a module

Example::

    >>> from wasmops.errors import SpecError
    >>> err = SpecError("limits.memory: not a size", where="examples/greet-c/module.yaml")
    >>> err.retryable, str(err)
    (False, 'examples/greet-c/module.yaml: limits.memory: not a size')

``diagnostics()`` is what the CLI prints: what, where, the hint, and the retry advice::

    >>> from wasmops.errors import Waiting
    >>> print(Waiting("module not healthy yet", where="dev/echo", delay=5, hint="wait for the host").diagnostics())
    dev/echo: module not healthy yet
    hint: wait for the host
    waiting: retry after 5s
"""

from __future__ import annotations


class WasmopsError(Exception):
    """Base error. ``where`` names the file, field, module or reference; ``hint`` says what to do."""

    retryable: bool = False
    delay: float | None = None  # seconds to wait before retrying; None: the caller's own schedule
    step: str | None = None     # which check refused (a host admission step, on the wire as "step")

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(f"{where}: {message}" if where else message)

    @property
    def advice(self) -> str:
        """What happens next, in one line: whether (and when) retrying can help."""
        if not self.retryable:
            return "retrying will not help: a person must act"
        return f"retrying may help (after {self.delay:g}s)" if self.delay is not None else "retrying may help"

    def diagnostics(self) -> str:
        """A multi-line explanation for people: what, where, the hint, and what happens next.

        The first line is ``str(self)`` (``where: message``); then ``hint: ...`` when there is a hint;
        the last line is ``advice``.
        """
        lines = [str(self)]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        lines.append(self.advice)
        return "\n".join(lines)


class UserError(WasmopsError):
    """Bad input from a person. Shown without a traceback."""


class ConfigError(UserError):
    pass


class SpecError(UserError):
    pass


class ToolchainMissing(UserError):
    pass


class BuildFailed(UserError):
    pass


class PolicyDenied(UserError):
    def __init__(self, message: str, *, reasons: list[str] | None = None, **kw):
        self.reasons = list(reasons or [])
        super().__init__(message, **kw)


class SignatureError(UserError):
    pass


class QuarantinedError(UserError):
    pass


class NotFound(UserError):
    pass


class IntegrityError(WasmopsError):
    pass


class TestFailed(WasmopsError):
    __test__ = False  # not a pytest class


class VerifyFailed(TestFailed):
    pass


class NotVerified(TestFailed):
    pass


class CanaryAborted(VerifyFailed):
    """The judge failed the canary: aborted to stable; the release reverts Git and quarantines it."""


class ReleaseStopped(WasmopsError):
    pass


class BudgetBlocked(ReleaseStopped):
    pass


class ApprovalRejected(ReleaseStopped):
    pass


class AnomalyRolledBack(ReleaseStopped):
    """The release judge failed the release and it was rolled back already: nothing is left to undo."""

    @property
    def advice(self) -> str:
        return "the rollback is done; a new release needs a person's change"


class TransientError(WasmopsError):
    """Retrying can help. ``delay`` (seconds), when given, says how long to wait first."""

    retryable = True

    def __init__(self, message: str, *, delay: float | None = None, **kw):
        if delay is not None and delay < 0:
            raise ValueError(f"delay must be >= 0, not {delay}")
        self.delay = delay
        super().__init__(message, **kw)


class RegistryUnavailable(TransientError):
    pass


class Waiting(TransientError):
    """Not ready yet (host unreachable, module not healthy yet): retry after ``delay`` seconds.

    ``delay`` has a default so the class stays constructible from its message alone (unpickling a
    failed Prefect state does that, then restores ``delay`` from the instance dict).
    """

    DEFAULT_DELAY: float = 10.0

    def __init__(self, message: str, *, delay: float = DEFAULT_DELAY, **kw):
        super().__init__(message, delay=float(delay), **kw)

    @property
    def advice(self) -> str:
        return f"waiting: retry after {self.delay:g}s"


class Stalled(WasmopsError):
    """Cannot go on until a person acts (a refused signature or policy, a quarantine, drift left in
    report mode). Retrying will not help."""

    retryable = False

    @property
    def advice(self) -> str:
        return "stalled: a person must act"


class SandboxError(WasmopsError):
    pass


def is_retryable(exc: BaseException) -> bool:
    """True when retrying the step that raised ``exc`` can help."""
    if isinstance(exc, WasmopsError):
        return exc.retryable
    return isinstance(exc, (ConnectionError, TimeoutError))


_TYPE_TAGS = {"int", "str", "float", "bool", "list", "dict", "none", "bytes"}


def _is_union_member(part) -> bool:
    return isinstance(part, str) and (part in _TYPE_TAGS or part.startswith(("function-", "list[", "dict[")))


def spec_error_from_pydantic(exc, where: str) -> SpecError:
    """Turn a pydantic ValidationError into a SpecError naming the file and each bad field. A field
    that accepts several types gets one line (``limits.max_stdout: expected int or str, got list [1]``),
    not one per type that failed."""
    parts, unions = [], {}
    for e in exc.errors():
        loc = tuple(e.get("loc", ()))
        if len(loc) > 1 and _is_union_member(loc[-1]):
            unions.setdefault(loc[:-1], (e.get("input"), []))[1].append(str(loc[-1]).split("[")[0])
            continue
        name = ".".join(str(p) for p in loc) or "(root)"
        parts.append(f"{name}: {str(e.get('msg')).removeprefix('Value error, ')}")   # our own validators' words
    for loc, (value, kinds) in unions.items():
        shown = repr(value)
        parts.append(f"{'.'.join(map(str, loc))}: expected {' or '.join(dict.fromkeys(kinds))}, got "
                     f"{type(value).__name__} {shown if len(shown) <= 40 else shown[:39] + '…'}")
    return SpecError("; ".join(parts), where=where)
