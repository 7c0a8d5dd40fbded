"""The workspace layout: every file and directory wasmops keeps under ``$WASMOPS_HOME``, named once.

    >>> p = WorkspacePaths(Path("/ws"))
    >>> str(p.gitops), str(p.quarantine), str(p.host_token)
    ('/ws/gitops', '/ws/gitops/quarantine.yaml', '/ws/host/token')
    >>> str(p.report("cost-team.png"))
    '/ws/reports/cost-team.png'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WorkspacePaths:
    home: Path

    # --- desired state and supply chain ---------------------------------------------------
    @property
    def gitops(self) -> Path:
        """The desired-state Git repository."""
        return self.home / "gitops"

    @property
    def quarantine(self) -> Path:
        return self.gitops / "quarantine.yaml"

    @property
    def module_policy(self) -> Path:
        """The module policy in Git (the release's policy step and host admission both read it)."""
        return self.gitops / "policies" / "module-policy.yaml"

    @property
    def oci_layout(self) -> Path:
        return self.home / "oci"

    @property
    def artifacts(self) -> Path:
        """Built wasm files kept per digest for the release's later steps."""
        return self.home / "artifacts"

    @property
    def keys(self) -> Path:
        return self.home / "keys"

    @property
    def private_key(self) -> Path:
        return self.keys / "signing.key"

    @property
    def public_key(self) -> Path:
        return self.keys / "signing.pub"

    @property
    def trusted_keys(self) -> Path:
        """The keyring: ``gitops/keys`` when Git holds one, else ``trusted-keys``."""
        in_git = self.gitops / "keys"
        return in_git if in_git.is_dir() else self.local_trusted_keys

    @property
    def local_trusted_keys(self) -> Path:
        return self.home / "trusted-keys"

    # --- caches ---------------------------------------------------------------------------
    @property
    def build_cache(self) -> Path:
        return self.home / "cache" / "builds"

    @property
    def compile_cache(self) -> Path:
        return self.home / "cache" / "compiled"

    @property
    def test_compile_cache(self) -> Path:
        """Modules compiled by the sandbox of ``wasmops test`` and a release's test step (not the
        host's ``compile_cache``: another engine configuration and another key)."""
        return self.home / "cache" / "test-compiled"

    @property
    def forecast_cache(self) -> Path:
        """The budget gate's forecasts per module, price sheet and telemetry watermark."""
        return self.home / "cache" / "cost-forecast.json"

    # --- host -----------------------------------------------------------------------------
    @property
    def host_state(self) -> Path:
        return self.home / "host"

    @property
    def host_token(self) -> Path:
        return self.host_state / "token"

    @property
    def host_record(self) -> Path:
        """Where the last `wasmops host` said it listens."""
        return self.home / "host.json"

    # --- services and data ----------------------------------------------------------------
    @property
    def telemetry_db(self) -> Path:
        return self.home / "telemetry.db"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    def report(self, name: str) -> Path:
        return self.reports / name

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def prefect_storage(self) -> Path:
        return self.prefect_home / "storage"

    @property
    def mlflow_db(self) -> Path:
        return self.home / "mlflow.db"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def services_record(self) -> Path:
        """What `wasmops up` started (pids, ports)."""
        return self.home / "services.json"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def locks(self) -> Path:
        return self.home / "locks"
