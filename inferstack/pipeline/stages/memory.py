"""The memory stage: a request that names a session (`inferstack.session_id` or `x-session-id`)
carries what the session remembers, in the smallest deployment's context after the request
itself, the answer reserve and the retrieval reserve: the running summary of older turns and
past turns recalled from long-term memory (one system message, from the `memory-summary` and
`memory-recall` templates), then the latest stored messages that fit. It holds the session's
lock until the persist stage has stored the turn, so turns on one session never interleave."""

from __future__ import annotations

from typing import cast

from inferstack.config import Settings
from inferstack.errors import InvalidRequest
from inferstack.pipeline.call import Call
from inferstack.pipeline.protocol import ChatCompletionRequest, ChatMessage, Role
from inferstack.pipeline.stage import Components, Stage
from inferstack.prompts import PromptRegistry
from inferstack.sessions.memory import MESSAGE_OVERHEAD_TOKENS, Window
from inferstack.sessions.service import ConversationService, check_session_id

# Instructions of this request stay first; stored history follows, then the new messages.
LEADING_ROLES = ("system", "developer")
MEMORY_FRAMING_TOKENS = 32  # the templates' own words around the summary and recalled turns


class MemoryStage(Stage):
    name = "memory"

    def __init__(
        self, conversations: ConversationService, smallest_context: int, prompts: PromptRegistry
    ) -> None:
        self.conversations = conversations
        self.config = conversations.config
        self.smallest_context = smallest_context
        self.prompts = prompts

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return settings.sessions.enabled

    @classmethod
    def build(cls, parts: Components) -> Stage | None:
        if parts.conversations is None:
            return None
        return cls(parts.conversations, min(d.spec.max_context for d in parts.router.table), parts.prompts)

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
        return (
            self.smallest_context
            - own
            - answer
            - self.config.retrieval_reserve_tokens
            - MEMORY_FRAMING_TOKENS
        )

    async def on_request(self, call: Call) -> None:
        session_id = call.session_id()
        request = call.request
        if session_id is None or not isinstance(request, ChatCompletionRequest):
            return
        leading = [m for m in request.messages if m.role in LEADING_ROLES]
        rest = [m for m in request.messages if m.role not in LEADING_ROLES]
        query = next((" ".join(m.texts()) for m in reversed(rest) if m.role == "user"), "")
        turn = await self.conversations.begin(call.tenant, request.user, session_id, query)
        call.turn = turn
        call.closers.append(turn.release)
        window = await self.conversations.window(turn, self._budget(request))
        carried = [ChatMessage(role=cast(Role, m.role), content=m.content) for m in window.messages]
        remembered = self._remembered(window, call.tenant, turn.prompt_ids)
        call.state[self.name] = rest  # the new messages, as the input guard left them
        call.request = request.model_copy(update={"messages": [*leading, *remembered, *carried, *rest]})
        call.extension["memory"] = {
            "session_id": session_id,
            "turn_id": turn.turn_id,
            "stored_messages": len(turn.history),
            "messages_kept": len(window.messages),
            "summary_version": window.summary.version if window.summary else None,
            "recalled_turn_ids": [p.turn_id for p in window.recalled],
            "recall": turn.recall_status,
            "messages_dropped": window.uncovered,
        }

    def _remembered(self, window: Window, tenant: str, used: list[str]) -> list[ChatMessage]:
        parts = []
        if window.summary is not None:
            prompt = self.prompts.get("memory-summary", tenant)
            parts.append(prompt.render(summary=window.summary.content))
            used.append(prompt.id)
        if window.recalled:
            turns = [
                {"role": role, "content": text}
                for p in window.recalled
                for role, text in (("user", p.question), ("assistant", p.answer))
            ]
            prompt = self.prompts.get("memory-recall", tenant)
            parts.append(prompt.render(turns=turns))
            used.append(prompt.id)
        return [ChatMessage(role="system", content="\n\n".join(parts))] if parts else []
