"""Response models of the public HTTP contract (ARCHITECTURE §3), for the OpenAPI page and for
the tests that check real answers against it. The routes build their answers as plain dicts
(serialised once with orjson); these models say what those dicts hold.

OpenAI-shaped objects allow extra fields (backends add their own); the `inferstack` extension
object is exact.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Exact(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(_Exact):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(_Exact):
    """Every error, at every status: never a stack trace."""

    error: ErrorDetail


# ---- the `inferstack` extension object ----------------------------------------------------------
class RouteCandidate(_Open):
    deployment: str
    eligible: bool
    why: str = Field(description="why it is (not) eligible: health, capability, tier, budget, SLO")
    estimated_cost_usd: float
    predicted_ttft_ms: float
    tier: int


class RoutePlacement(_Exact):
    policy: str = Field(description="prefix-aware | session-affinity | least-loaded | round-robin")
    replica: str | None = Field(description="the replica placement chose first (host:port)")
    served_by: str | None = Field(description="the replica of the chosen deployment that answered")
    reason: str = Field(description="prefix | no_prefix | prefix_load | affinity | new_session | only | ...")
    replicas: int = Field(description="replicas the deployment has")
    load: int | None = Field(description="requests on the chosen replica when it was chosen")
    kv_cache_usage: float | None = Field(description="its vLLM KV-cache usage (0..1) at the last scrape")
    matched_blocks: int | None = Field(default=None, description="prefix-aware: leading blocks it holds")
    blocks: int | None = Field(default=None, description="prefix-aware: the prompt's hashed blocks")


class RouteRecord(_Exact):
    deployment: str = Field(description="the deployment the router chose")
    reason: str = Field(description="cheapest | pinned | slo_spill | budget_downgrade | ...")
    score: float | None = Field(description="quality score of the prompt (null when pinned)")
    needed_tier: int
    estimated_cost_usd: float
    candidates: list[RouteCandidate]
    served_by: str | None = Field(description="the deployment that answered (after fallbacks)")
    attempts: list[dict[str, str]] = Field(description="each try: deployment, replica and outcome")
    failovers: list[dict[str, Any]] = Field(
        description="mid-stream failovers: from, to, after_tokens, from_replica, to_replica"
    )
    placement: RoutePlacement | None = Field(
        default=None, description="which replica of the deployment, and why"
    )
    recovery_ms: float | None = Field(default=None, description="mid-stream: break to next token")
    actual_cost_usd: float | None = Field(description="settled from the backend's token usage")
    cache: Literal["hit"] | None = Field(
        default=None, description="`hit`: answered from the answer cache (the record of the stored answer)"
    )


class Source(_Exact):
    index: int = Field(description="the number the answer cites, as [1]")
    document_id: str
    chunk_id: str
    title: str
    score: float
    metadata: dict[str, Any]


class RetrievalInfo(_Exact):
    status: Literal["ok", "skipped", "unavailable"]
    collection: str | None = None
    chunks: int | None = Field(default=None, description="sources put into the prompt")
    screened_out: int | None = Field(default=None, description="chunks the guard dropped (injection)")
    prompt: str | None = Field(default=None, description="version of the grounding prompt")
    reason: str | None = Field(default=None, description="why the store was unavailable")


class GuardSide(_Exact):
    findings: dict[str, int] = Field(description="finding type -> count (never values)")
    actions: dict[str, str] | None = Field(default=None, description="finding type -> action taken")


class GuardReport(_Exact):
    input: GuardSide | None = None
    output: GuardSide | None = None


class IntentOut(_Exact):
    label: str
    score: float = Field(description="calibrated probability of the label")
    confident: bool = Field(
        description="score >= classifier.min_confidence; else the router treats it as unknown"
    )


class MemoryInfo(_Exact):
    session_id: str
    turn_id: str = Field(description="this turn: rate it with POST /v1/sessions/{id}/feedback")
    stored_messages: int = Field(description="messages the session had before this turn after those its "
                                 "summary covers (read up to sessions.max_history_messages)")  # fmt: skip
    messages_kept: int = Field(description="of those, the latest ones that fit the context and were sent")
    messages_dropped: int = Field(description="of those, the older ones neither sent nor yet summarised")
    summary_version: int | None = Field(description="the running summary sent with this turn (null: none)")
    recalled_turn_ids: list[str] = Field(description="past turns recalled from long-term memory and sent")
    recall: Literal["ok", "timed_out", "failed"] | None = Field(
        default=None, description="how recall ended (null: long-term memory off); not ok: none were sent"
    )
    stored: bool | None = Field(default=None, description="this turn was stored (false: the write failed)")


class InferstackExtension(_Exact):
    """Added to every chat/completions answer (the last chunk of a stream)."""

    route: RouteRecord | None
    sources: list[Source]
    retrieval: RetrievalInfo
    guard: GuardReport | None = Field(description="null when the guard stages are off")
    intent: IntentOut | None = Field(description="null when the classify stage is off")
    memory: MemoryInfo | None = Field(description="null when the request names no session")
    timings_ms: dict[str, float] = Field(description="pipeline stage -> wall time in ms")


# ---- OpenAI objects -------------------------------------------------------------------------------
class Usage(_Open):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(_Open):
    role: Literal["assistant"]
    content: str | None
    tool_calls: list[dict[str, Any]] | None = None


class ChatChoice(_Open):
    index: int
    message: AssistantMessage
    finish_reason: str | None


class ChatCompletion(_Open):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage | None = None
    inferstack: InferstackExtension


class ChatCompletionChunk(_Open):
    """One `data:` event of a stream; the last one before `[DONE]` has `choices: []` and the
    `inferstack` object."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: Usage | None = None
    inferstack: InferstackExtension | None = None


class TextChoice(_Open):
    index: int
    text: str
    finish_reason: str | None


class Completion(_Open):
    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[TextChoice]
    usage: Usage | None = None
    inferstack: InferstackExtension


class Model(_Exact):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    endpoint: Literal["chat", "embeddings"] = Field(description="what the model serves (an inferstack field)")


class ModelList(_Exact):
    object: Literal["list"]
    data: list[Model]


class Embedding(_Exact):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str = Field(description="floats, or base64 of little-endian float32")


class EmbeddingUsage(_Exact):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(_Exact):
    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


# ---- capability endpoints -----------------------------------------------------------------------
class EntityOut(_Exact):
    label: str
    text: str
    start: int
    end: int
    score: float


class ClassifyResponse(_Exact):
    intent: IntentOut
    entities: list[EntityOut]


class Finding(_Exact):
    type: str = Field(description="a Presidio entity name, or PROMPT_INJECTION, JAILBREAK, TOXIC, SECRET")
    start: int
    end: int
    score: float


class GuardScanResponse(_Exact):
    blocked: bool
    reasons: list[str]
    findings: list[Finding]
    redacted_text: str


class IngestResponse(_Exact):
    ingested: int
    chunks: int


class DocumentDeleted(_Exact):
    id: str
    object: Literal["document.deleted"]
    deleted: bool
    chunks: int


class RetrieveResult(_Exact):
    document_id: str
    chunk_id: str
    text: str
    title: str
    score: float
    metadata: dict[str, Any]


class RetrieveResponse(_Exact):
    results: list[RetrieveResult]


class RouteDryRun(_Exact):
    deployment: str
    reason: str
    estimated_cost_usd: float
    candidates: list[RouteCandidate]
    score: float | None
    threshold: float
    needed_tier: int


class Health(_Exact):
    status: Literal["ok"]


class Readiness(_Exact):
    ready: bool
    stages: dict[str, str] = Field(description="each deployment and stage with its state")


# ---- sessions -------------------------------------------------------------------------------------
class SessionOut(_Exact):
    object: Literal["session"]
    id: str
    user: str | None
    created_at: float
    updated_at: float
    turns: int


class SessionList(_Exact):
    object: Literal["list"]
    data: list[SessionOut]


class StoredMessage(_Exact):
    role: Literal["user", "assistant"]
    content: str = Field(description="as stored: PII replaced by `<TYPE>` placeholders")
    turn_id: str
    created_at: float
    route: str | None
    intent: str | None
    sources: list[Source]
    prompt: str | None = Field(description="prompt template id@version of the answer")
    tokens: int | None


class SessionMessages(_Exact):
    """JSON; with `?format=jsonl`, one StoredMessage per line instead."""

    object: Literal["list"]
    session_id: str
    data: list[StoredMessage]


class Removed(_Exact):
    """Rows or vectors removed, per store."""

    sessions: int
    messages: int
    feedback: int
    summaries: int
    memory_vectors: int


class SessionDeleted(_Exact):
    id: str
    object: Literal["session.deleted"]
    deleted: bool
    removed: Removed


class UserDeleted(_Exact):
    user: str
    object: Literal["user.deleted"]
    deleted: bool
    removed: Removed


class FeedbackOut(_Exact):
    id: int
    object: Literal["feedback"]
    session_id: str
    turn_id: str
    rating: int


class ApiKeyOut(_Exact):
    """A stored key as the admin API shows it (never its digest)."""

    id: str
    tenant: str
    name: str
    endpoints: list[str] | None
    models: list[str] | None
    limits: dict[str, float]
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    active: bool


class ApiKeyCreated(ApiKeyOut):
    key: str  # shown once
    replaces: str | None = None  # rotation: the id of the key this one replaces (now revoked)


class ApiKeyList(_Exact):
    object: Literal["list"]
    data: list[ApiKeyOut]


class ApiKeyRevoked(_Exact):
    id: str
    revoked: bool


# ---- collections and operator stats ---------------------------------------------------------------
class CollectionOut(_Exact):
    name: str
    object: Literal["collection"]
    chunks: int = Field(description="the caller's chunks in it")


class CollectionList(_Exact):
    object: Literal["list"]
    data: list[CollectionOut]


class StatsWindow(_Exact):
    seconds: float = Field(description="the span these rates cover (the last minute, or less after start)")
    requests_per_min: float
    errors_per_min: float = Field(description="chat and completion answers with a 5xx status")
    tokens_per_s: float = Field(description="completion tokens")
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    ttft_p50_ms: float | None = Field(description="streams: backend call start to first token")
    ttft_p95_ms: float | None


class OperatorStats(_Exact):
    """`GET /v1/admin/stats`, what the operator page shows. Names and numbers, never text."""

    object: Literal["inferstack.stats"]
    at: float
    uptime_s: float
    window: StatsWindow
    totals: dict[str, Any] = Field(
        description="since start: requests (by status), tokens, cost by "
        "deployment and tenant, guard findings by type, screened-out chunks"
    )
    series: list[dict[str, Any]] = Field(description="the window's rates at each kept snapshot, oldest first")
    backends: list[dict[str, Any]] = Field(
        description="deployments and their replicas: health, circuit, load"
    )
    recent: list[dict[str, Any]] = Field(description="the latest calls: deployment, reason, cost, findings")
