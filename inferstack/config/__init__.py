"""Typed configuration: one YAML file plus environment overrides, validated at start-up.

The settings root lives here; each stage's part is a module of this package. Nothing here imports
anything above it: registry names (policies, scorers, stages) are checked when the app is built.

Precedence (highest first): environment (`INFERSTACK_*`, nested with `__`), the YAML file
(`INFERSTACK_CONFIG`, else `./inferstack.yaml` when present), then the embedded defaults, which
describe the single-box setup (one local vLLM process on loopback).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AliasChoices, Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from inferstack.config.answers import AnswerCacheConfig
from inferstack.config.base import ConfigError
from inferstack.config.guard import GuardConfig
from inferstack.config.models import ClassifierConfig, EmbeddingsConfig, LocalVllm, ModelSpec, default_models
from inferstack.config.pipeline import PipelineConfig
from inferstack.config.prompts import PromptsConfig
from inferstack.config.quotas import QuotasConfig
from inferstack.config.retrieval import RetrievalConfig
from inferstack.config.router import RouterConfig
from inferstack.config.serving import AuthConfig, LimitsConfig
from inferstack.config.sessions import SessionsConfig

__all__ = ["ANONYMOUS_TENANT", "ConfigError", "Settings", "is_loopback", "load_settings"]

DEFAULT_CONFIG_NAME = "inferstack.yaml"
ANONYMOUS_TENANT = "anonymous"  # who a request belongs to when auth is off (loopback, no keys)
EMBEDDED = "embedded defaults + INFERSTACK_* env"


def _default_cache_dir() -> Path:
    return Path("~/.cache/inferstack").expanduser()


class Settings(BaseSettings):
    """Everything inferstack reads from outside. Built once, passed into the app factory."""

    model_config = SettingsConfigDict(
        env_prefix="INFERSTACK_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        validation_alias=AliasChoices("INFERSTACK_CACHE", "cache_dir"),
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    default_model: str | None = Field(
        default=None, description="deployment used for model `auto`; first model if unset"
    )
    models: tuple[ModelSpec, ...] = Field(default_factory=default_models, min_length=1)
    embeddings: EmbeddingsConfig = EmbeddingsConfig()
    classifier: ClassifierConfig = ClassifierConfig()
    auth: AuthConfig = AuthConfig()
    limits: LimitsConfig = LimitsConfig()
    quotas: QuotasConfig = QuotasConfig()
    # Not `cache`: INFERSTACK_CACHE is the cache directory's variable.
    answer_cache: AnswerCacheConfig = AnswerCacheConfig()
    router: RouterConfig = Field(default_factory=RouterConfig)
    retrieval: RetrievalConfig = RetrievalConfig()
    guard: GuardConfig = Field(default_factory=GuardConfig)
    pipeline: PipelineConfig = PipelineConfig()
    sessions: SessionsConfig = SessionsConfig()
    prompts: PromptsConfig = PromptsConfig()
    api_docs: bool = Field(default=True, description="serve the API pages: GET /docs and /openapi.json")
    web_pages: bool = Field(
        default=True, description="serve the chat page (GET /) and operator page (/admin)"
    )
    _source: str = PrivateAttr(default=EMBEDDED)

    @field_validator("cache_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        names = [m.name for m in self.models]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"models: duplicate names {dupes}")
        if self.default_model is not None and self.default_model not in names:
            raise ValueError(f"default_model: {self.default_model!r} is not one of {names}")
        summary_model = self.sessions.summary_model
        if summary_model is not None and summary_model not in names:
            raise ValueError(f"sessions.summary_model: {summary_model!r} is not one of {names}")
        summarising = next((m for m in self.models if m.name == summary_model), None)
        if summarising is not None and summarising.api != "vllm":
            # Summaries are made from stored transcripts: they stay on self-hosted models.
            raise ValueError(f"sessions.summary_model: {summary_model!r} is a managed API, not a vLLM model")
        ports = [
            m.serve.port + i
            for m in self.models
            if isinstance(m.serve, LocalVllm)
            for i in range(m.serve.replicas)
        ]
        if self.port in ports or len(set(ports)) != len(ports) or max(ports, default=0) > 65535:
            raise ValueError(
                "models: local vLLM ports (port .. port+replicas-1) must be unique and differ from `port`"
            )
        return self

    @property
    def source(self) -> str:
        """Where these settings were read from (a file, or the embedded defaults), for errors."""
        return self._source

    def key_error(self, key: str, message: str) -> ConfigError:
        """A ConfigError for one key, phrased as validation errors are (file, key, reason)."""
        return ConfigError(f"{self.source}: invalid configuration\n  {key}: {message}")

    @property
    def default_deployment(self) -> ModelSpec:
        wanted = self.default_model or self.models[0].name
        return next(m for m in self.models if m.name == wanted)

    @property
    def quotas_active(self) -> bool:
        """Whether any key or tenant has a limit or a budget (else the quota stages drop out)."""
        quotas = self.quotas
        return (
            quotas.default.limited
            or any(t.limited for t in quotas.tenants)
            or self.auth_enabled  # a key may carry limits of its own
            or bool(self.router.budgets)
        )

    @property
    def auth_enabled(self) -> bool:
        return bool(self.auth.api_keys) or self.auth.require_keys

    def check_bind(self) -> None:
        """Loopback without keys: auth off. Any other address without keys: refuse."""
        if self.auth_enabled or is_loopback(self.host):
            return
        raise ConfigError(
            f"host: refusing to bind {self.host} without API keys; configure auth.api_keys "
            "or bind to 127.0.0.1"
        )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML mapping arrives as init kwargs (see load_settings); env wins over it.
        return (env_settings, init_settings)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def config_path_from_env() -> Path | None:
    explicit = os.environ.get("INFERSTACK_CONFIG")
    if explicit:
        return Path(explicit)
    local = Path(DEFAULT_CONFIG_NAME)
    return local if local.is_file() else None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid configuration"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {loc}: {err['msg']}")
    return "\n".join(lines)


def load_settings(path: Path | None = None, *, use_env_path: bool = True) -> Settings:
    """Read, merge and validate. Raises ConfigError naming the file and the key path."""
    if path is None and use_env_path:
        path = config_path_from_env()
    data = _read_yaml(path) if path is not None else {}
    source = str(path) if path is not None else EMBEDDED
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None
    settings._source = source
    return settings
