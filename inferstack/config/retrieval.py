"""Typed configuration of the retrieval stage (part of `Settings`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from inferstack.config.base import Strict


def is_server_uri(uri: str) -> bool:
    """A Milvus server; anything else is a Milvus Lite file."""
    return uri.startswith(("http://", "https://"))


class RetrievalConfig(Strict):
    enabled: bool = True
    milvus_uri: str = Field(
        default="",
        description="'' = Milvus Lite in $INFERSTACK_CACHE/data/milvus.db; a path ending in .db = Milvus "
        "Lite there; http(s)://host:19530 = a Milvus server",
    )
    milvus_token_env: str | None = Field(default=None, description="env var with the server's token")
    chunk_tokens: int = Field(default=200, ge=32, le=256, description="MiniLM reads at most 256 tokens")
    chunk_overlap: int = Field(default=30, ge=0)
    fusion: Literal["rrf", "weighted"] = "weighted"
    rrf_k: int = Field(default=60, ge=1)
    # 0.9 / 4.0: chosen on the hand-written inferstack-docs questions (the man-page defaults,
    # 0.8 / 1.0, let the man-page reranker lose to dense search there); docs/eval.md
    dense_weight: float = Field(
        default=0.9, ge=0, le=1, description="weighted fusion: share of the dense score"
    )
    candidates: int = Field(default=20, ge=1, le=200, description="fused candidates the reranker sees")
    top_k: int = Field(default=5, ge=1, le=50, description="chunks put into a chat prompt at most")
    rerank: bool = True
    rerank_retrieval_weight: float = Field(
        default=4.0,
        ge=0,
        description="weight of the fused retrieval score beside the reranker's "
        "(both standardised per query); 0 = the reranker's order alone",
    )
    rerank_max_tokens: int | None = Field(
        default=None,
        ge=16,
        le=512,
        description="tokens of each (query, chunk) pair the reranker reads; null = the length it "
        "was trained at (64); the cost is about linear in it",
    )
    timeout_s: float = Field(
        default=2.0, gt=0, description="store deadline; beyond it the chat answers without"
    )
    answer_reserve_tokens: int = Field(default=512, ge=16, description="context kept free for the answer")
    near_duplicate: float = Field(
        default=0.95, gt=0, le=1, description="word-set Jaccard above which a chunk is skipped as a copy"
    )
    demo_collection: str = Field(default="docs", description="`make run` ingests the project docs here")

    @model_validator(mode="after")
    def _checks(self) -> RetrievalConfig:
        uri = self.milvus_uri
        if uri and not (is_server_uri(uri) or uri.endswith(".db")):
            raise ValueError("milvus_uri: use '' (embedded), a path ending in .db, or an http(s):// URL")
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError("chunk_overlap must be smaller than chunk_tokens")
        return self
