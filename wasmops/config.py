"""Settings for wasmops, read from ``WASMOPS_*`` environment variables.

Every setting has an embedded default under the workspace: ``$WASMOPS_HOME`` if set, else
``./.wasmops`` in the current directory. Every ``WASMOPS_*`` variable the code reads is a field
here (``WASMOPS_<FIELD>``); the fields are grouped by purpose, and every workspace path comes from
``settings.paths``. :func:`current` builds the settings once per process (again only when a
``WASMOPS_*`` variable changes, as tests do). Example::

    >>> from wasmops.config import Settings
    >>> s = Settings(home="/tmp/ws")
    >>> str(s.paths.oci_layout), str(s.paths.telemetry_db)
    ('/tmp/ws/oci', '/tmp/ws/telemetry.db')
    >>> s.hosting.url
    'http://127.0.0.1:8700'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .workspace_paths import WorkspacePaths


def _default_home() -> Path:
    env = os.environ.get("WASMOPS_HOME")
    return Path(env).expanduser().resolve() if env else (Path.cwd() / ".wasmops").resolve()


@dataclass(frozen=True)
class HostSettings:
    """Where the wasmops host answers, and its admin token."""
    url: str
    token: str | None


@dataclass(frozen=True)
class SupplySettings:
    """Build, sign and publish: the registry releases publish to, and the toolchains."""
    registry_base: str          # oci://HOST[:PORT]/NS or oci-layout://PATH
    registry_timeout_s: float
    registry_insecure: bool     # plain HTTP to a registry that is not on loopback
    key_backend: str            # auto | offline | keyless
    c_toolchain: str            # auto | clang | zig
    zig_cache_dir: Path


@dataclass(frozen=True)
class OpsSettings:
    """Services and the operator's terminal."""
    gitops_remote: str | None
    database_url: str | None
    prometheus_url: str | None
    schedule_scale: float       # stretches flows/serve.py schedules (tests run them faster)
    verbose: bool
    debug: bool


class Settings(BaseSettings):
    """wasmops settings. Each field can be set with ``WASMOPS_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="WASMOPS_", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="The workspace directory.")
    host_url: str = Field("http://127.0.0.1:8700", description="URL of the wasmops host.")
    host_token: str | None = Field(None, description="Bearer token for the host's admin API.")
    host_slice_us: int = Field(100, ge=0, description="EEVDF slice (µs) the host's event loop and pool threads ask "
                                                      "for (wasmops/host/sched.py); 0 leaves the kernel's.")
    host_spin_us: int = Field(200, ge=0, le=100_000, description="After a response a host worker polls this long "
                              "for the next request before it sleeps (wasmops/host/spin.py); 0 turns it off.")
    host_request_timeout_s: float = Field(10.0, gt=0, description="A request must arrive in full within this "
                                          "long of its first byte (wasmops/host/http.py).")
    host_keepalive_s: float = Field(30.0, gt=0, description="An idle connection is closed this long after "
                                    "accept or its previous response.")
    host_send_timeout_s: float = Field(10.0, gt=0, description="A response the client does not read for this "
                                       "long gets its connection reset.")
    host_metrics_retention_s: float = Field(3600.0, ge=0, description="A digest's series leave /metrics this long "
                                            "after it stopped serving (replaced, aborted or deleted): the telemetry "
                                            "collector (every 60 s) has read its last counts by then.")
    host_max_connections: int | None = Field(None, ge=1, description="Open connections per host worker process; "
                                             "default half the open-file limit, 64 to 10,000.")
    registry_timeout_s: float = Field(30.0, description="Give up on an unreachable registry after this long.")
    registry_insecure: bool = Field(False, description="Allow plain HTTP to a registry that is not on loopback.")
    zig_cache: Path | None = Field(None, description="Zig global cache; default <home>/../.zig-cache shared per user.")
    c_toolchain: str = Field("auto", description="C compiler for modules: auto | clang | zig.")
    key_backend: str = Field("auto", description="Signing backend: auto | offline | keyless.")
    registry: str | None = Field(None, description="Where releases publish: oci://HOST[:PORT]/NS or "
                                                   "oci-layout://PATH. Default: the workspace OCI layout.")
    registry_user: str | None = Field(None, description="Registry user (basic auth / token exchange).")
    registry_password: SecretStr | None = Field(None, description="Registry password or token.")
    gitops_remote: str | None = Field(None, description="Git remote of the desired-state repo (optional).")
    agent_webhook_secret: SecretStr | None = Field(None, description="Shared secret of `wasmops agent`'s webhook.")
    database_url: str | None = Field(None, description="PostgreSQL URL for the Prefect server and MLflow "
                                                       "(`wasmops up --database`); default SQLite in the workspace.")
    prometheus_url: str | None = Field(None, description="Prometheus to read host metrics from (default: scrape "
                                                         "the host's /metrics directly).")
    fleet_agents: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Agent URLs, comma-separated: the release flow waits on these agents "
                                          "(they pull Git) instead of reconciling the workspace host.")
    fleet_timeout_s: float = Field(300.0, gt=0, description="How long a release waits for the fleet to serve it.")
    schedule_scale: float = Field(1.0, description="Multiplies the served flows' schedule intervals.")
    verbose: bool = Field(False, description="Show Prefect's own log lines in the terminal (`wasmops -v`).")
    debug: bool = Field(False, description="Show tracebacks for wasmops errors.")

    @field_validator("fleet_agents", mode="before")
    @classmethod
    def _comma_separated(cls, v):
        """``http://a:8711,http://b:8711`` (also a JSON list, or a list)."""
        if isinstance(v, str):
            text = v.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [u.strip() for u in text.split(",") if u.strip()]
        return v

    @property
    def paths(self) -> WorkspacePaths:
        """Every file and directory of the workspace."""
        return WorkspacePaths(self.home)

    @property
    def hosting(self) -> HostSettings:
        return HostSettings(self.host_url, self.host_token)

    @property
    def supply(self) -> SupplySettings:
        return SupplySettings(self.registry_base, self.registry_timeout_s, self.registry_insecure,
                              self.key_backend, self.c_toolchain, self.zig_cache_dir)

    @property
    def ops(self) -> OpsSettings:
        return OpsSettings(self.gitops_remote, self.database_url, self.prometheus_url, self.schedule_scale,
                           self.verbose, self.debug)

    # The flat names below predate the groups and stay as aliases of ``paths``.
    @property
    def registry_base(self) -> str:
        return self.registry or f"oci-layout://{self.oci_layout}"

    @property
    def gitops_dir(self) -> Path:
        """The desired-state git repository (the embedded GitOps source of truth)."""
        return self.paths.gitops

    @property
    def oci_layout(self) -> Path:
        """The embedded OCI image-layout directory."""
        return self.paths.oci_layout

    @property
    def keys_dir(self) -> Path:
        """The signing key pair made by ``wasmops init``."""
        return self.paths.keys

    @property
    def private_key(self) -> Path:
        return self.paths.private_key

    @property
    def public_key(self) -> Path:
        return self.paths.public_key

    @property
    def trusted_keys_dir(self) -> Path:
        """Directory of trusted public keys (PEM), the keyring. In Git: deployments/keys/."""
        return self.paths.trusted_keys

    @property
    def zig_cache_dir(self) -> Path:
        if self.zig_cache:
            return self.zig_cache
        env = os.environ.get("ZIG_GLOBAL_CACHE_DIR")
        if env:
            return Path(env)
        return user_cache() / "zig"

    @property
    def build_cache(self) -> Path:
        return self.paths.build_cache

    @property
    def compile_cache(self) -> Path:
        """Precompiled wasmtime modules, one file per digest."""
        return self.paths.compile_cache

    @property
    def test_compile_cache(self) -> Path:
        """Modules compiled by the test sandbox (``wasmops test``, a release's test step)."""
        return self.paths.test_compile_cache


def user_cache() -> Path:
    """``$XDG_CACHE_HOME/wasmops`` (default ``~/.cache/wasmops``): caches shared by every workspace."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "wasmops"


_CURRENT: tuple[tuple, Settings] | None = None


def _env_key() -> tuple:
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("WASMOPS_"))) + (os.getcwd(),)


def current() -> Settings:
    """The process's settings, built once and rebuilt only when a ``WASMOPS_*`` variable (or the
    working directory the default home depends on) changed since."""
    global _CURRENT
    key = _env_key()
    if _CURRENT is None or _CURRENT[0] != key:
        _CURRENT = (key, Settings())
    return _CURRENT[1]


def get_settings(**overrides) -> Settings:
    return Settings(**overrides) if overrides else current()
