"""The session endpoints over the conversation service: list a tenant's sessions, export one
(JSON or JSON Lines), erase a session or an end user, record feedback on a turn. No HTTP here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from inferstack.errors import InferstackError, InvalidRequest
from inferstack.serving.protocol import FeedbackRequest
from inferstack.sessions.service import ConversationService, check_session_id

MAX_LIST = 1000
USER_MAX_CHARS = 256


def _user(value: str, param: str) -> str:
    if not value or len(value) > USER_MAX_CHARS:
        raise InvalidRequest(f"a user id is 1-{USER_MAX_CHARS} characters", param=param)
    return value


class SessionEndpoints:
    def __init__(self, conversations: ConversationService | None) -> None:
        self.conversations = conversations

    def _service(self) -> ConversationService:
        if self.conversations is None:
            raise InferstackError(
                "sessions are disabled (sessions.enabled)", status=503, code="stage_disabled"
            )
        return self.conversations

    async def list(self, tenant: str, query: Mapping[str, str]) -> dict[str, Any]:
        user = _user(query["user"], "user") if "user" in query else None
        try:
            limit = int(query.get("limit", "100"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_LIST:
            raise InvalidRequest(f"limit is a whole number from 1 to {MAX_LIST}", param="limit")
        data = await self._service().sessions(tenant, user, limit)
        return {"object": "list", "data": [{"object": "session", **s} for s in data]}

    async def messages(self, tenant: str, session_id: str, query: Mapping[str, str]) -> tuple[bytes, str]:
        """The session's messages: (body, media type) in the requested `format`."""
        fmt = query.get("format", "json")
        if fmt not in ("json", "jsonl"):
            raise InvalidRequest("format is `json` or `jsonl`", param="format")
        check_session_id(session_id, "session_id")
        messages = [m.public() for m in await self._service().messages(tenant, session_id)]
        if fmt == "jsonl":
            return b"".join(orjson.dumps(m) + b"\n" for m in messages), "application/x-ndjson"
        body = {"object": "list", "session_id": session_id, "data": messages}
        return orjson.dumps(body), "application/json"

    async def delete_session(self, tenant: str, session_id: str) -> dict[str, Any]:
        check_session_id(session_id, "session_id")
        removed = await self._service().delete_session(tenant, session_id)
        return {"id": session_id, "object": "session.deleted", "deleted": True, "removed": removed}

    async def delete_user(self, tenant: str, user: str) -> dict[str, Any]:
        removed = await self._service().delete_user(tenant, _user(user, "user"))
        return {"user": user, "object": "user.deleted", "deleted": True, "removed": removed}

    async def feedback(self, tenant: str, session_id: str, request: FeedbackRequest) -> dict[str, Any]:
        check_session_id(session_id, "session_id")
        feedback_id = await self._service().feedback(
            tenant, session_id, request.turn_id, request.rating, request.comment
        )
        return {"id": feedback_id, "object": "feedback", "session_id": session_id, "turn_id": request.turn_id,
                "rating": request.rating}  # fmt: skip
