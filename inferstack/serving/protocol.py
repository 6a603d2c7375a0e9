"""Request models of the endpoints beside chat/completions (embeddings, classify, guard scan,
retrieval). Validators name the `param` a client should fix."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from inferstack.config.quotas import Limits
from inferstack.pipeline.protocol import COLLECTION_PATTERN, ParamError

EmbeddingInput = (
    Annotated[str, Field(min_length=1)]
    | Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
)


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    input: EmbeddingInput
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None

    @property
    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must contain non-whitespace characters")
    return value


NonBlank = Annotated[str, Field(min_length=1), AfterValidator(_not_blank)]


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: NonBlank


class GuardScanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: NonBlank
    direction: Literal["input", "output"] = "input"


CollectionName = Annotated[str, Field(pattern=COLLECTION_PATTERN)]


class DocumentInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=512)
    text: str = Field(min_length=1, max_length=2_000_000)
    metadata: dict[str, Any] = Field(default_factory=dict)
    title: str = Field(default="", max_length=1000)
    format: Literal["txt", "md", "html"] = "txt"


class IngestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    documents: list[DocumentInput] = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _unique_ids(self) -> IngestRequest:
        ids = [d.id for d in self.documents]
        if len(set(ids)) != len(ids):
            raise ParamError("documents", "document ids must be unique within one request")
        return self


class RetrieveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    collection: CollectionName
    query: Annotated[NonBlank, Field(max_length=4000)]
    top_k: int = Field(default=5, ge=1, le=50)
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"
    rerank: bool | None = None


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    turn_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="`inferstack.memory.turn_id` of the answer")
    rating: Literal[1, -1]
    comment: str | None = Field(default=None, max_length=4000)


class CreateKeyRequest(BaseModel):
    """`POST /v1/admin/keys`: a new stored key (the key is in the answer, once)."""

    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    name: str = Field(default="", max_length=128)
    endpoints: list[Literal["chat", "embeddings", "retrieval_write", "sessions", "admin"]] | None = Field(
        default=None, min_length=1
    )
    models: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, min_length=1
    )
    limits: Limits = Limits()
    expires_in_days: float | None = Field(default=None, gt=0, le=3650)
