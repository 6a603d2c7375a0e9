"""Pure-ASGI edge middleware: request id, metrics + access log, body limit, API-key auth and scopes.

Pure ASGI (not BaseHTTPMiddleware) so streaming responses pass through untouched and the
per-request cost stays in microseconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import time
from collections.abc import Mapping, Sequence

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inferstack.config.serving import ApiKey
from inferstack.errors import AuthenticationFailed, InferstackError, PayloadTooLarge, PermissionDenied
from inferstack.keys.service import DEFAULT_ENDPOINTS, ENDPOINTS, KeyService, Principal
from inferstack.serving.metrics import GatewayMetrics

log = logging.getLogger("inferstack.access")

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


async def send_error(send: Send, error: InferstackError, request_id: str | None = None) -> None:
    headers = [(b"content-type", b"application/json")]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    if request_id:
        headers.append((b"x-request-id", request_id.encode()))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": orjson.dumps(error.body())})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestContextMiddleware:
    """Outermost: assigns `x-request-id`, times the request, counts it, writes the access log."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID_OK.match(incoming) else os.urandom(16).hex()
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        response_started = False
        started = time.perf_counter()
        rid_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # noqa: BLE001 - last line of defence, answer instead of a trace
            # Type only: exception text may quote request content.
            log.error("unhandled error request_id=%s type=%s", request_id, type(exc).__name__)
            if not response_started:
                error = InferstackError(f"internal error (request id {request_id})", code="internal_error")
                await send_error(send_with_id, error)
        finally:
            self.metrics.in_flight.dec()
            elapsed = time.perf_counter() - started
            route_obj = scope.get("route")
            route = getattr(route_obj, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route, method).observe(elapsed)
            log.info(
                "request_id=%s method=%s route=%s status=%s ms=%.1f tenant=%s",
                request_id, method, route, status, elapsed * 1000,
                scope["state"].get("tenant", "-"),
            )  # fmt: skip


# A body over the limit is read and dropped up to this many times the limit before the 413 goes
# out: answering while the client is still sending would close the connection under it, and the
# client would see a broken pipe instead of the error. Past it, the connection is closed.
DRAIN_FACTOR = 8
DRAIN_S = 5.0


class BodyLimitMiddleware:
    """413 before the app reads a body over the limit (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, drained: int, more: bool) -> None:
        try:
            async with asyncio.timeout(DRAIN_S):  # a client dripping bytes is not waited for
                while more and drained <= self.max_bytes * DRAIN_FACTOR:
                    message = await receive()
                    if message["type"] != "http.request":
                        return  # the client has gone: nobody to answer
                    drained += len(message.get("body", b""))
                    more = message.get("more_body", False)
        except TimeoutError:
            pass
        too_large = PayloadTooLarge(f"request body exceeds the limit of {self.max_bytes} bytes", param=None)
        await send_error(send, too_large, scope.get("state", {}).get("request_id"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send, 0, True)
                return
            await self.app(scope, receive, send)
            return
        # Chunked upload: buffer up to the limit, then replay to the app.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, size, message.get("more_body", False))
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replay = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([replay], then=receive), send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def endpoint_scope(path: str) -> str:
    """The key scope a `/v1/*` path needs (keys.service.ENDPOINTS)."""
    if path.startswith("/v1/admin/"):
        return "admin"
    if path == "/v1/embeddings":
        return "embeddings"
    if path.startswith("/v1/collections/"):
        return "retrieval_write"
    if path.startswith(("/v1/sessions", "/v1/users/")):
        return "sessions"  # read and erase stored transcripts
    return "chat"


def configured_keys(keys: Sequence[ApiKey]) -> dict[str, Principal]:
    """The configuration's keys by digest: every endpoint (admin when `admin: true`), every model."""
    found = {}
    for key in keys:
        digest = hash_key(key.resolve())
        scopes = frozenset(ENDPOINTS if key.admin else DEFAULT_ENDPOINTS)
        found[digest] = Principal(key.tenant, digest[:12], scopes, None, key.limits)
    return found


class KeyGate:
    """Who a bearer key is: a configured key (SHA-256 digest lookup), else a stored one (the
    key service the lifespan attaches)."""

    def __init__(self, configured: Mapping[str, Principal]) -> None:
        self.configured = dict(configured)
        self.stored: KeyService | None = None

    async def resolve(self, token: str) -> Principal | None:
        found = self.configured.get(hash_key(token))
        if found is None and self.stored is not None:
            found = await self.stored.authenticate(token)
        return found


class ApiKeyAuthMiddleware:
    """Bearer-key auth for `/v1/*` when auth is on: 401 for a missing or unknown key, 403 for an
    endpoint outside the key's scopes. The tenant, the key's short id and what it may do are put
    in the request state for limits, accounting and model scopes."""

    def __init__(self, app: ASGIApp, gate: KeyGate, enabled: bool) -> None:
        self.app = app
        self.gate = gate
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.enabled or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        auth = _header(scope, b"authorization") or ""
        scheme, _, token = auth.partition(" ")
        principal = await self.gate.resolve(token.strip()) if scheme.lower() == "bearer" else None
        request_id = scope.get("state", {}).get("request_id")
        if principal is None:
            error: InferstackError = AuthenticationFailed(
                "missing, invalid, expired or revoked API key; send `Authorization: Bearer <key>`",
                headers={"WWW-Authenticate": "Bearer"},
            )
            await send_error(send, error, request_id)
            return
        needed = endpoint_scope(scope["path"])
        if not principal.may(needed):
            await send_error(send, PermissionDenied(f"this API key lacks the `{needed}` scope"), request_id)
            return
        state = scope.setdefault("state", {})
        state["tenant"], state["key_id"], state["principal"] = principal.tenant, principal.key_id, principal
        await self.app(scope, receive, send)
