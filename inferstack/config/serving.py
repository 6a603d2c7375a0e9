"""Typed configuration of the HTTP edge: API keys, request limits and the API documentation
pages. Part of `Settings`; no logic here."""

from __future__ import annotations

import os

from pydantic import Field, SecretStr, model_validator

from inferstack.config.base import ConfigError, Strict
from inferstack.config.quotas import Limits


class ApiKey(Strict):
    """A client key. Prefer `key_env` (the key lives in the environment / a Secret)."""

    tenant: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    key_env: str | None = None
    key: SecretStr | None = None
    limits: Limits = Field(default=Limits(), description="this key's own limits (the tenant's apply too)")
    admin: bool = Field(default=False, description="may call /v1/admin/* (create, list, revoke keys)")

    @model_validator(mode="after")
    def _one_source(self) -> ApiKey:
        if (self.key_env is None) == (self.key is None):
            raise ValueError("set exactly one of `key_env` or `key`")
        return self

    def resolve(self) -> str:
        if self.key is not None:
            return self.key.get_secret_value()
        value = os.environ.get(self.key_env or "", "")
        if not value:
            raise ConfigError(f"auth.api_keys: env var {self.key_env} (tenant {self.tenant}) is empty")
        return value


class AuthConfig(Strict):
    api_keys: tuple[ApiKey, ...] = Field(default=(), description="keys from the environment (bootstrap)")
    require_keys: bool = Field(
        default=False, description="auth on with stored keys only (`inferstack keys create`), none in config"
    )
    database_url: str | None = Field(
        default=None,
        description="SQL store of stored keys; unset: sessions.database_url, else SQLite in the cache",
    )
    secret_env: str = Field(
        default="INFERSTACK_KEY_SECRET",
        description="env var with the HMAC secret of stored keys (the same on every replica); "
        "unset: a random one kept in the cache directory",
    )


class LimitsConfig(Strict):
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
