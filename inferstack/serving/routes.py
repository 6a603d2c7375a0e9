"""HTTP routes. Thin: validate (pydantic), call a service, shape the HTTP response."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Receive, Scope

from inferstack.config import ANONYMOUS_TENANT
from inferstack.errors import ClientClosedRequest, PermissionDenied
from inferstack.keys.service import Principal
from inferstack.pipeline.call import Call
from inferstack.pipeline.protocol import ChatCompletionRequest, CompletionRequest
from inferstack.pipeline.runner import Generation
from inferstack.serving.protocol import (
    ClassifyRequest,
    CreateKeyRequest,
    EmbeddingRequest,
    FeedbackRequest,
    GuardScanRequest,
    IngestRequest,
    RetrieveRequest,
)
from inferstack.serving.responses import ClosingStreamingResponse, JSONResponse
from inferstack.serving.runtime import Runtime

router = APIRouter()
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def cancel_on_disconnect(receive: Receive, work: Awaitable[T]) -> T:
    """Await `work` in this task; if the client disconnects first, cancel it. The body is
    already read, so the next ASGI message can only be `http.disconnect`."""
    current = asyncio.current_task()
    assert current is not None
    disconnected = False

    async def watch() -> None:
        nonlocal disconnected
        while (await receive())["type"] != "http.disconnect":
            pass
        disconnected = True
        current.cancel()

    watcher = asyncio.create_task(watch())
    try:
        return await work
    except asyncio.CancelledError:
        if not disconnected:
            raise
        current.uncancel()
        raise ClientClosedRequest("client closed the request") from None
    finally:
        watcher.cancel()


def _tenant(request: Request) -> str:
    return str(request.scope.get("state", {}).get("tenant") or ANONYMOUS_TENANT)


def _generation_response(generation: Generation) -> Response:
    if isinstance(generation.result, dict):
        return JSONResponse(generation.result, headers=generation.headers)
    return ClosingStreamingResponse(generation.result, headers={**_SSE_HEADERS, **generation.headers})


async def parse_body(request: Request, model: type[M]) -> M:
    """pydantic-core parses and validates the raw bytes in one pass; errors take the same
    path (and `param` naming) as FastAPI's own validation."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None


def _call(request: Request, body: ChatCompletionRequest | CompletionRequest) -> Call:
    """The pipeline's Call for this request; a model outside the key's scope is a 403."""
    principal: Principal | None = request.scope.get("state", {}).get("principal")
    if principal is not None and not principal.may_use(body.model):
        raise PermissionDenied(f"this API key may not use model {body.model!r}", param="model")
    return Call(
        body,
        request.state.request_id,
        _tenant(request),
        key_id=None if principal is None else principal.key_id,
        key_limits=None if principal is None else principal.limits,
        allowed_models=None if principal is None else principal.models,
        cache_control=request.headers.get("cache-control"),
        session_header=request.headers.get("x-session-id"),
    )


async def _generate(
    request: Request, model: type[ChatCompletionRequest] | type[CompletionRequest]
) -> Response:
    call = _call(request, await parse_body(request, model))
    work = _runtime(request).pipeline.run(call)
    return _generation_response(await cancel_on_disconnect(request.receive, work))


async def chat_completions(request: Request) -> Response:
    return await _generate(request, ChatCompletionRequest)


async def completions(request: Request) -> Response:
    return await _generate(request, CompletionRequest)


async def route_dry_run(request: Request) -> Response:
    """`POST /v1/route`: the decision chat completions would make for this body; nothing runs."""
    call = _call(request, await parse_body(request, ChatCompletionRequest))
    runtime = _runtime(request)
    # Only the stages marked for it (classify, route): a dry run stays cheap, and retrieval's
    # context, which would add prompt tokens, is not fetched.
    await cancel_on_disconnect(request.receive, runtime.pipeline.dry_run(call))
    assert call.decision is not None  # the route stage always decides (or raises)
    return JSONResponse(runtime.router.dry_run(call.decision))


async def embeddings(request: Request) -> Response:
    body = await parse_body(request, EmbeddingRequest)
    service = _runtime(request).embeddings
    return JSONResponse(await cancel_on_disconnect(request.receive, service.create(body)))


async def classify(request: Request) -> Response:
    body = await parse_body(request, ClassifyRequest)
    return JSONResponse(
        await cancel_on_disconnect(request.receive, _runtime(request).classify.classify(body))
    )


class HotRoute(Route):
    """A plain Starlette route (skips FastAPI's dependency solving, ~15 % of the gateway's CPU
    per request) that still records itself in the scope for the metrics' route label."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


async def ingest_documents(request: Request) -> Response:
    body = await parse_body(request, IngestRequest)
    name = request.path_params["name"]
    work = _runtime(request).retrieval_endpoints.ingest(name, _tenant(request), body)
    return JSONResponse(await cancel_on_disconnect(request.receive, work))


async def delete_document(request: Request) -> Response:
    name, document_id = request.path_params["name"], request.path_params["document_id"]
    work = _runtime(request).retrieval_endpoints.delete(name, _tenant(request), document_id)
    return JSONResponse(await cancel_on_disconnect(request.receive, work))


async def guard_scan(request: Request) -> Response:
    body = await parse_body(request, GuardScanRequest)
    work = _runtime(request).guard_endpoint.scan(_tenant(request), body)
    return JSONResponse(await cancel_on_disconnect(request.receive, work))


async def retrieve(request: Request) -> Response:
    body = await parse_body(request, RetrieveRequest)
    work = _runtime(request).retrieval_endpoints.retrieve(_tenant(request), body)
    return JSONResponse(await cancel_on_disconnect(request.receive, work))


async def list_collections(request: Request) -> Response:
    return JSONResponse(await _runtime(request).retrieval_endpoints.collections(_tenant(request)))


async def operator_stats(request: Request) -> Response:
    return JSONResponse(_runtime(request).operator.snapshot())


async def list_sessions(request: Request) -> Response:
    work = _runtime(request).session_endpoints.list(_tenant(request), request.query_params)
    return JSONResponse(await work)


async def session_messages(request: Request) -> Response:
    endpoints = _runtime(request).session_endpoints
    body, media_type = await endpoints.messages(
        _tenant(request), request.path_params["session_id"], request.query_params
    )
    return Response(body, media_type=media_type)


async def delete_session(request: Request) -> Response:
    endpoints = _runtime(request).session_endpoints
    return JSONResponse(await endpoints.delete_session(_tenant(request), request.path_params["session_id"]))


async def delete_user(request: Request) -> Response:
    endpoints = _runtime(request).session_endpoints
    return JSONResponse(await endpoints.delete_user(_tenant(request), request.path_params["user"]))


async def session_feedback(request: Request) -> Response:
    body = await parse_body(request, FeedbackRequest)
    endpoints = _runtime(request).session_endpoints
    return JSONResponse(await endpoints.feedback(_tenant(request), request.path_params["session_id"], body))


async def create_key(request: Request) -> Response:
    body = await parse_body(request, CreateKeyRequest)
    return JSONResponse(await _runtime(request).key_endpoints.create(body), status_code=201)


async def list_keys(request: Request) -> Response:
    return JSONResponse(await _runtime(request).key_endpoints.list(request.query_params.get("tenant")))


async def revoke_key(request: Request) -> Response:
    return JSONResponse(await _runtime(request).key_endpoints.revoke(request.path_params["key_id"]))


async def rotate_key(request: Request) -> Response:
    return JSONResponse(await _runtime(request).key_endpoints.rotate(request.path_params["key_id"]))


HOT_ROUTES = [
    HotRoute("/v1/chat/completions", chat_completions, methods=["POST"]),
    HotRoute("/v1/completions", completions, methods=["POST"]),
    HotRoute("/v1/embeddings", embeddings, methods=["POST"]),
    HotRoute("/v1/classify", classify, methods=["POST"]),
    HotRoute("/v1/route", route_dry_run, methods=["POST"]),
    HotRoute("/v1/collections/{name}/documents", ingest_documents, methods=["POST"]),
    HotRoute("/v1/collections/{name}/documents/{document_id:path}", delete_document, methods=["DELETE"]),
    HotRoute("/v1/collections", list_collections, methods=["GET"]),
    HotRoute("/v1/retrieve", retrieve, methods=["POST"]),
    HotRoute("/v1/guard/scan", guard_scan, methods=["POST"]),
    HotRoute("/v1/sessions", list_sessions, methods=["GET"]),
    HotRoute("/v1/sessions/{session_id}/messages", session_messages, methods=["GET"]),
    HotRoute("/v1/sessions/{session_id}", delete_session, methods=["DELETE"]),
    HotRoute("/v1/sessions/{session_id}/feedback", session_feedback, methods=["POST"]),
    HotRoute("/v1/users/{user}", delete_user, methods=["DELETE"]),
    HotRoute("/v1/admin/keys", create_key, methods=["POST"]),
    HotRoute("/v1/admin/keys", list_keys, methods=["GET"]),
    HotRoute("/v1/admin/keys/{key_id}", revoke_key, methods=["DELETE"]),
    HotRoute("/v1/admin/keys/{key_id}/rotate", rotate_key, methods=["POST"]),
    HotRoute("/v1/admin/stats", operator_stats, methods=["GET"]),
]


@router.get("/v1/models")
async def list_models(request: Request) -> Response:
    return JSONResponse(_runtime(request).model_list())


@router.get("/health")
async def health() -> Response:
    return JSONResponse({"status": "ok"})


@router.get("/ready")
async def ready(request: Request) -> Response:
    report = _runtime(request).readiness()
    return JSONResponse(report, status_code=200 if report["ready"] else 503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    runtime = _runtime(request)
    runtime.refresh_gauges()
    return Response(runtime.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
