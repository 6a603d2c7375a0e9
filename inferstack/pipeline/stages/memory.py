"""The memory stage: a request that names a session (`inferstack.session_id` or `x-session-id`)
carries the session's latest stored messages, as many as fit the smallest deployment's context
after the request itself, the answer reserve and the retrieval reserve. It holds the session's
lock until the persist stage has stored the turn, so turns on one session never interleave."""

from __future__ import annotations

from typing import cast

from inferstack.config import Settings
from inferstack.errors import InvalidRequest
from inferstack.pipeline.call import Call
from inferstack.pipeline.protocol import ChatCompletionRequest, ChatMessage, Role
from inferstack.pipeline.stage import Components, Stage
from inferstack.sessions.service import MESSAGE_OVERHEAD_TOKENS, ConversationService, check_session_id, fit

# Instructions of this request stay first; stored history follows, then the new messages.
LEADING_ROLES = ("system", "developer")


class MemoryStage(Stage):
    name = "memory"

    def __init__(self, conversations: ConversationService, smallest_context: int) -> None:
        self.conversations = conversations
        self.config = conversations.config
        self.smallest_context = smallest_context

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return settings.sessions.enabled

    @classmethod
    def build(cls, parts: Components) -> Stage | None:
        if parts.conversations is None:
            return None
        return cls(parts.conversations, min(d.spec.max_context for d in parts.router.table))

    def admit(self, call: Call) -> None:
        session_id = call.session_id()
        if session_id is None:
            return
        from_body = call.request.inferstack is not None and call.request.inferstack.session_id is not None
        check_session_id(session_id, "inferstack.session_id" if from_body else "x-session-id")
        if not call.chat:
            raise InvalidRequest("sessions are for chat completions", param="inferstack.session_id")

    def _budget(self, request: ChatCompletionRequest) -> int:
        count = self.conversations.count
        own = sum(count(" ".join(m.texts())) + MESSAGE_OVERHEAD_TOKENS for m in request.messages)
        answer = request.max_completion_tokens or request.max_tokens or self.config.answer_reserve_tokens
        return self.smallest_context - own - answer - self.config.retrieval_reserve_tokens

    async def on_request(self, call: Call) -> None:
        session_id = call.session_id()
        request = call.request
        if session_id is None or not isinstance(request, ChatCompletionRequest):
            return
        call.turn = turn = await self.conversations.begin(call.tenant, request.user, session_id)
        call.closers.append(turn.release)
        history = turn.history
        kept = fit(history, self._budget(request), self.conversations.count) if history else 0
        recalled = [
            ChatMessage(role=cast(Role, m.role), content=m.content) for m in history[len(history) - kept :]
        ]
        leading = [m for m in request.messages if m.role in LEADING_ROLES]
        rest = [m for m in request.messages if m.role not in LEADING_ROLES]
        call.state[self.name] = rest  # the new messages, as the input guard left them
        call.request = request.model_copy(update={"messages": [*leading, *recalled, *rest]})
        call.extension["memory"] = {
            "session_id": session_id,
            "turn_id": turn.turn_id,
            "stored_messages": len(history),
            "messages_kept": kept,
        }
