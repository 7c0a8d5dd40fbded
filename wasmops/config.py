"""Settings for wasmops, read from ``WASMOPS_*`` environment variables.

Every setting has an embedded default under the workspace: ``$WASMOPS_HOME`` if set, else
``./.wasmops`` in the current directory. Example::

    >>> from wasmops.config import Settings
    >>> s = Settings(home="/tmp/ws")
    >>> str(s.oci_layout)
    '/tmp/ws/oci'
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    env = os.environ.get("WASMOPS_HOME")
    return Path(env).expanduser().resolve() if env else (Path.cwd() / ".wasmops").resolve()


class Settings(BaseSettings):
    """wasmops settings. Each field can be set with ``WASMOPS_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="WASMOPS_", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="The workspace directory.")
    host_url: str = Field("http://127.0.0.1:8700", description="URL of the wasmops host.")
    host_token: str | None = Field(None, description="Bearer token for the host's admin API.")
    registry_timeout_s: float = Field(30.0, description="Give up on an unreachable registry after this long.")
    zig_cache: Path | None = Field(None, description="Zig global cache; default <home>/../.zig-cache shared per user.")
    key_backend: str = Field("auto", description="Signing backend: auto | offline | keyless.")
    registry: str | None = Field(None, description="Where releases publish: oci://HOST[:PORT]/NS or "
                                                   "oci-layout://PATH. Default: the workspace OCI layout.")
    gitops_remote: str | None = Field(None, description="Git remote of the desired-state repo (optional).")

    @property
    def registry_base(self) -> str:
        return self.registry or f"oci-layout://{self.oci_layout}"

    @property
    def gitops_dir(self) -> Path:
        """The desired-state git repository (the embedded GitOps source of truth)."""
        return self.home / "gitops"

    @property
    def oci_layout(self) -> Path:
        """The embedded OCI image-layout directory."""
        return self.home / "oci"

    @property
    def keys_dir(self) -> Path:
        """The signing key pair made by ``wasmops init``."""
        return self.home / "keys"

    @property
    def private_key(self) -> Path:
        return self.keys_dir / "signing.key"

    @property
    def public_key(self) -> Path:
        return self.keys_dir / "signing.pub"

    @property
    def trusted_keys_dir(self) -> Path:
        """Directory of trusted public keys (PEM), the keyring. In Git: deployments/keys/."""
        return self.home / "gitops" / "keys" if (self.home / "gitops" / "keys").is_dir() else self.home / "trusted-keys"

    @property
    def zig_cache_dir(self) -> Path:
        if self.zig_cache:
            return self.zig_cache
        env = os.environ.get("ZIG_GLOBAL_CACHE_DIR")
        if env:
            return Path(env)
        return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "wasmops" / "zig"

    @property
    def build_cache(self) -> Path:
        return self.home / "cache" / "builds"

    @property
    def compile_cache(self) -> Path:
        """Precompiled wasmtime modules, one file per digest."""
        return self.home / "cache" / "compiled"


def get_settings(**overrides) -> Settings:
    return Settings(**overrides)
