"""The persist stage: stores a session turn once its answer is complete, in one transaction:
the new user messages and the answer, as redacted text (this stage sits inside the output
guard, so it sees the answer before pseudonyms are mapped back), with the route, intent,
sources and token counts. Then the session's next turn may start. A failed write does not
lose the answer already made: the client is told in `inferstack.memory.stored`."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from inferstack.config import Settings
from inferstack.pipeline.call import Call
from inferstack.pipeline.stage import Components, Stage
from inferstack.sessions.service import ConversationService, Turn, unnumbered
from inferstack.sessions.store import Message

log = logging.getLogger(__name__)
STORED_ROLES = ("user", "assistant")


class PersistStage(Stage):
    name = "persist"

    def __init__(self, conversations: ConversationService) -> None:
        self.conversations = conversations

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return settings.sessions.enabled

    @classmethod
    def build(cls, parts: Components) -> Stage | None:
        return cls(parts.conversations) if parts.conversations is not None else None

    def _messages(self, call: Call, turn: Turn, answer: str) -> list[Message]:
        count = self.conversations.count
        new = call.state.get("memory", [])
        out = [
            Message(m.role, text, turn.turn_id, tokens=count(text))
            for m in new
            if m.role in STORED_ROLES and (text := unnumbered(" ".join(m.texts())))
        ]
        usage = call.usage or {}
        grounded = bool(call.grounding.sources)
        out.append(
            Message(
                "assistant",
                unnumbered(answer),
                turn.turn_id,
                route=call.decision.deployment.name if call.decision else None,
                intent=call.intent.label if call.intent else None,
                sources=call.grounding.sources,
                prompt=",".join(ids) if (ids := self._prompt_ids(call, turn, grounded)) else None,
                tokens=usage.get("completion_tokens"),
            )
        )
        return out

    @staticmethod
    def _prompt_ids(call: Call, turn: Turn, grounded: bool) -> list[str]:
        """The templates this turn's prompt was made with (e.g. "rag-v1,memory-summary-v1")."""
        rag = [call.grounding.prompt_id] if grounded and call.grounding.prompt_id else []
        return [*rag, *turn.prompt_ids]

    async def _store(self, call: Call, answer: str) -> None:
        turn = call.turn
        assert turn is not None
        memory = call.extension["memory"]
        try:
            await self.conversations.persist(turn, self._messages(call, turn, answer))
            memory["stored"] = True
        except Exception as exc:  # noqa: BLE001 - the answer stands; say it was not stored
            log.error("session turn not stored: %s", type(exc).__name__)
            memory["stored"] = False

    async def on_body(self, call: Call, body: dict[str, Any]) -> None:
        if call.turn is None:
            return
        choices = body.get("choices") or [{}]
        first = choices[0]
        answer = (first.get("message") or {}).get("content") or first.get("text") or ""
        await self._store(call, answer)

    def on_event(self, call: Call, event: bytes) -> bytes:
        if call.turn is None or b'"content"' not in event:
            return event
        for choice in orjson.loads(event[6:]).get("choices") or []:
            if choice.get("index", 0) == 0:
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    call.state.setdefault(self.name, []).append(piece)
        return event

    async def on_stream_end(self, call: Call) -> list[bytes]:
        if call.turn is not None:
            await self._store(call, "".join(call.state.get(self.name, [])))
        return []
