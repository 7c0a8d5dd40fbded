"""The one error hierarchy of wasmops.

Every error says what failed, where (file, field, module, reference) and whether retrying can
help. The retry decision is carried by the class, so Prefect's ``retry_condition_fn`` can ask
``exc.retryable`` instead of guessing from messages::

    WasmopsError                      base: .where, .hint, .retryable, diagnostics()
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
    ├── TransientError                retrying can help (network, registry down, busy)
    │   └── RegistryUnavailable       the OCI registry did not answer in time
    └── SandboxError                  a trap or limit breach while running a module

Example::

    >>> from wasmops.errors import SpecError
    >>> err = SpecError("limits.memory: not a size", where="examples/echo/module.yaml")
    >>> err.retryable, str(err)
    (False, 'examples/echo/module.yaml: limits.memory: not a size')
"""

from __future__ import annotations


class WasmopsError(Exception):
    """Base error. ``where`` names the file, field, module or reference; ``hint`` says what to do."""

    retryable: bool = False

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(f"{where}: {message}" if where else message)

    def diagnostics(self) -> str:
        """A multi-line explanation for people: what, where, and what happens next."""
        lines = [str(self)]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        lines.append("retrying may help" if self.retryable else "retrying will not help: a person must act")
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


class ReleaseStopped(WasmopsError):
    pass


class BudgetBlocked(ReleaseStopped):
    pass


class ApprovalRejected(ReleaseStopped):
    pass


class AnomalyRolledBack(ReleaseStopped):
    pass


class TransientError(WasmopsError):
    retryable = True


class RegistryUnavailable(TransientError):
    pass


class SandboxError(WasmopsError):
    pass


def is_retryable(exc: BaseException) -> bool:
    """True when retrying the step that raised ``exc`` can help."""
    if isinstance(exc, WasmopsError):
        return exc.retryable
    return isinstance(exc, (ConnectionError, TimeoutError))


def spec_error_from_pydantic(exc, where: str) -> SpecError:
    """Turn a pydantic ValidationError into a SpecError naming the file and each bad field."""
    parts = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e.get("loc", ())) or "(root)"
        parts.append(f"{loc}: {e.get('msg')}")
    return SpecError("; ".join(parts), where=where)
