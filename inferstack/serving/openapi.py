"""The OpenAPI document of the public contract (`GET /openapi.json`, browsed at `/docs`), from
one table: each endpoint with its request and response models. The hot routes are plain
Starlette routes, so FastAPI cannot see their models; this table describes every route, and a
test checks that it lists each one the app serves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from inferstack.pipeline.protocol import ChatCompletionRequest, CompletionRequest
from inferstack.serving import schemas
from inferstack.serving.protocol import (
    ClassifyRequest,
    CreateKeyRequest,
    EmbeddingRequest,
    FeedbackRequest,
    GuardScanRequest,
    IngestRequest,
    RetrieveRequest,
)

_REF = "#/components/schemas/{model}"
_DESCRIPTION = (
    "OpenAI-compatible gateway with guard, intent, retrieval and a cost-aware router. Chat answers "
    "carry an extra `inferstack` object: route, sources, retrieval, guard, intent, memory, timings_ms."
)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    tag: str
    summary: str
    request: type[BaseModel] | None
    response: type[BaseModel] | None  # None: not JSON (the Prometheus text)
    stream: type[BaseModel] | None = None  # the SSE event of `stream: true`
    errors: tuple[int, ...] = (400, 401, 413, 429, 503)


CONTRACT = (
    Endpoint("POST", "/v1/chat/completions", "OpenAI", "Chat completion (`model: auto`: routed)",
             ChatCompletionRequest, schemas.ChatCompletion, schemas.ChatCompletionChunk,
             (400, 401, 404, 413, 429, 503, 504)),
    Endpoint("POST", "/v1/completions", "OpenAI", "Text completion", CompletionRequest, schemas.Completion,
             schemas.ChatCompletionChunk, (400, 401, 404, 413, 429, 503, 504)),
    Endpoint("POST", "/v1/embeddings", "OpenAI", "Embeddings from the local MiniLM model", EmbeddingRequest,
             schemas.EmbeddingList, errors=(400, 401, 404, 413)),
    Endpoint("GET", "/v1/models", "OpenAI", "Deployments, `auto` and the embedding model", None,
             schemas.ModelList, errors=(401,)),
    Endpoint("POST", "/v1/classify", "Stages", "Intent and entities of a text", ClassifyRequest,
             schemas.ClassifyResponse, errors=(400, 401, 413, 503)),
    Endpoint("POST", "/v1/guard/scan", "Stages", "PII, secrets, injection and toxicity findings of a text",
             GuardScanRequest, schemas.GuardScanResponse, errors=(400, 401, 413, 503)),
    Endpoint("POST", "/v1/route", "Stages", "Dry run of the routing decision; nothing is generated",
             ChatCompletionRequest, schemas.RouteDryRun, errors=(400, 401, 404, 413, 429, 503)),
    Endpoint("POST", "/v1/collections/{name}/documents", "Retrieval", "Ingest documents (idempotent by id)",
             IngestRequest, schemas.IngestResponse, errors=(400, 401, 413, 503)),
    Endpoint("DELETE", "/v1/collections/{name}/documents/{document_id}", "Retrieval", "Delete a document",
             None, schemas.DocumentDeleted, errors=(400, 401, 404, 503)),
    Endpoint("GET", "/v1/collections", "Retrieval", "The caller's collections, with their chunk counts",
             None, schemas.CollectionList, errors=(401, 503)),
    Endpoint("POST", "/v1/retrieve", "Retrieval", "Hybrid search and rerank in a collection",
             RetrieveRequest, schemas.RetrieveResponse, errors=(400, 401, 413, 503)),
    Endpoint("GET", "/v1/sessions", "Sessions", "The tenant's sessions (`?user=`, `?limit=`), newest first",
             None, schemas.SessionList, errors=(400, 401, 503)),
    Endpoint("GET", "/v1/sessions/{session_id}/messages", "Sessions",
             "Export a session's stored messages (`?format=jsonl` for JSON Lines)", None,
             schemas.SessionMessages, errors=(400, 401, 404, 503)),
    Endpoint("DELETE", "/v1/sessions/{session_id}", "Sessions", "Erase a session: messages and feedback",
             None, schemas.SessionDeleted, errors=(400, 401, 404, 503)),
    Endpoint("POST", "/v1/sessions/{session_id}/feedback", "Sessions", "Rate a turn (1 or -1)",
             FeedbackRequest, schemas.FeedbackOut, errors=(400, 401, 404, 413, 503)),
    Endpoint("DELETE", "/v1/users/{user}", "Sessions", "Erase every session of an end user (OpenAI `user`)",
             None, schemas.UserDeleted, errors=(400, 401, 503)),
    Endpoint("POST", "/v1/admin/keys", "Admin", "Create a stored key (`isk-...`, shown once)",
             CreateKeyRequest, schemas.ApiKeyCreated, errors=(400, 401, 403, 413, 503)),
    Endpoint("GET", "/v1/admin/keys", "Admin", "Stored keys (`?tenant=`), never the key itself", None,
             schemas.ApiKeyList, errors=(401, 403, 503)),
    Endpoint("DELETE", "/v1/admin/keys/{key_id}", "Admin", "Revoke a key (every replica within 1 s)", None,
             schemas.ApiKeyRevoked, errors=(401, 403, 404, 503)),
    Endpoint("POST", "/v1/admin/keys/{key_id}/rotate", "Admin", "A new key with the same scopes; the old "
             "one revoked", None, schemas.ApiKeyCreated, errors=(401, 403, 404, 503)),
    Endpoint("GET", "/v1/admin/stats", "Admin", "The operator page's live numbers (from the metrics)", None,
             schemas.OperatorStats, errors=(401, 403)),
    Endpoint("GET", "/health", "Operations", "Process alive", None, schemas.Health, errors=()),
    Endpoint("GET", "/ready", "Operations", "Every required stage loaded, backends healthy (else 503)",
             None, schemas.Readiness, errors=()),
    Endpoint("GET", "/metrics", "Operations", "Prometheus text format", None, None, errors=()),
)  # fmt: skip

_ERROR_TEXT = {400: "Bad request (`param` names the field)", 401: "Missing or invalid API key",
               403: "The key lacks the scope (endpoint or model)",
               404: "Unknown model, document, session, turn or route", 413: "Body or text over the limit",
               429: "Over a budget or limit", 503: "Stage disabled, or no backend available (Retry-After)",
               504: "The backend did not answer in time"}  # fmt: skip


def _path_parameters(path: str) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]


def openapi_document(title: str, version: str) -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Any]] = [(schemas.ErrorResponse, "serialization")]
    for endpoint in CONTRACT:
        if endpoint.request is not None:
            models.append((endpoint.request, "validation"))
        for response in (endpoint.response, endpoint.stream):
            if response is not None:
                models.append((response, "serialization"))
    refs, definitions = models_json_schema(list(dict.fromkeys(models)), ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in CONTRACT:
        content: dict[str, Any] = (
            {"application/json": {"schema": refs[(endpoint.response, "serialization")]}}
            if endpoint.response is not None
            else {"text/plain": {"schema": {"type": "string"}}}
        )
        if endpoint.stream is not None:
            content["text/event-stream"] = {"schema": refs[(endpoint.stream, "serialization")]}
        error = {"application/json": {"schema": refs[(schemas.ErrorResponse, "serialization")]}}
        operation: dict[str, Any] = {
            "tags": [endpoint.tag],
            "summary": endpoint.summary,
            "responses": {
                "200": {"description": "OK", "content": content},
                **{str(s): {"description": _ERROR_TEXT[s], "content": error} for s in endpoint.errors},
            },
        }
        if endpoint.request is not None:
            schema = refs[(endpoint.request, "validation")]
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
        if parameters := _path_parameters(endpoint.path):
            operation["parameters"] = parameters
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": _DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}, {}],
    }  # fmt: skip
