"""The cache stage: answers a deterministic request (temperature 0, one choice, no tools or
logprobs, no session) from the answer cache, as a body or replayed as an SSE stream, and stores
answers on their way out. Inside the input guard and outside the output guard: what it stores
is the filtered answer, and nothing with a PII or secret finding (input or output) is stored.
`Cache-Control: no-cache` skips the lookup, `no-store` the lookup and the store; every answer
says which happened in `x-inferstack-cache: hit|miss|skip`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Any

import orjson

from inferstack.answers.service import AnswerCache
from inferstack.config import Settings
from inferstack.pipeline.call import Call
from inferstack.pipeline.protocol import ChatCompletionRequest
from inferstack.pipeline.stage import Components, Stage
from inferstack.router.executor import sse

log = logging.getLogger(__name__)
HEADER = "x-inferstack-cache"
_STATE = "cache"
_REPLAYED = ("route", "sources", "retrieval", "intent")  # what a hit reports of the stored answer


class _Recording:
    """A streamed answer collected as it goes out, to be stored as one completion."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.text: list[str] = []
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.head: dict[str, Any] = {}
        self.broken = False  # tool calls, several choices, an error: not stored


def _findings(call: Call) -> bool:
    guard = call.extension.get("guard") or {}
    return any((guard.get(side) or {}).get("findings") for side in ("input", "output"))


class CacheStage(Stage):
    name = "cache"

    def __init__(self, cache: AnswerCache) -> None:
        self.cache = cache
        self.max_chars = cache.config.max_answer_chars
        self._storing: set[asyncio.Task[None]] = set()

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return settings.answer_cache.enabled

    @classmethod
    def build(cls, parts: Components) -> Stage | None:
        return None if parts.answers is None else cls(parts.answers)

    def _cacheable(self, call: Call) -> bool:
        request = call.request
        if request.temperature != 0 or request.n != 1 or call.session_id() is not None:
            return False
        if isinstance(request, ChatCompletionRequest):
            return not request.tools and not request.logprobs
        return not request.stream and not getattr(request, "logprobs", None)

    async def on_request(self, call: Call) -> dict[str, Any] | AsyncGenerator[bytes, None] | None:
        control = (call.cache_control or "").lower()
        if not self._cacheable(call) or "no-store" in control or _findings(call):
            call.headers[HEADER] = "skip"
            self.cache.lookups.labels("skip").inc()
            return None
        key = self.cache.key(call.tenant, call.request.model_dump(exclude_none=True))
        entry = None if "no-cache" in control else await self.cache.get(key)
        if entry is None:
            call.headers[HEADER] = "miss"
            self.cache.lookups.labels("miss").inc()
            call.state[_STATE] = _Recording(key)
            return None
        call.headers[HEADER] = "hit"
        self.cache.lookups.labels("hit").inc()
        call.extension.update({k: entry["inferstack"].get(k) for k in _REPLAYED})
        route = call.extension.get("route")
        if isinstance(route, dict):  # who made the stored answer; this one cost nothing
            call.extension["route"] = {**route, "actual_cost_usd": 0.0, "cache": "hit"}
        body: dict[str, Any] = entry["body"]
        return _replay(body, call) if call.request.stream else body

    def _store(self, call: Call, body: dict[str, Any]) -> None:
        if _findings(call) or call.outcome.served_by is None:
            return
        texts = [
            c.get("message", {}).get("content") or c.get("text") or "" for c in body.get("choices") or []
        ]
        if sum(len(t) for t in texts) > self.max_chars:
            return
        stored = {k: v for k, v in body.items() if k != "inferstack"}
        entry = {"body": stored, "inferstack": {k: call.extension.get(k) for k in _REPLAYED}}
        task = asyncio.get_running_loop().create_task(self.cache.put(call.state[_STATE].key, entry))
        self._storing.add(task)  # off the answer's path
        task.add_done_callback(self._storing.discard)

    async def on_body(self, call: Call, body: dict[str, Any]) -> None:
        if _STATE in call.state:
            self._store(call, body)

    def on_event(self, call: Call, event: bytes) -> bytes | None:
        recording: _Recording | None = call.state.get(_STATE)
        if recording is None or recording.broken:
            return event
        chunk = orjson.loads(event[6:])
        if "error" in chunk:
            recording.broken = True
            return event
        recording.head = recording.head or {k: chunk.get(k) for k in ("id", "created", "model")}
        if chunk.get("usage"):
            recording.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if choice.get("index", 0) != 0 or delta.get("tool_calls"):
                recording.broken = True
            recording.text.append(delta.get("content") or "")
            recording.finish_reason = choice.get("finish_reason") or recording.finish_reason
        return event

    async def on_stream_end(self, call: Call) -> list[bytes]:
        recording: _Recording | None = call.state.get(_STATE)
        if recording is not None and not recording.broken and recording.finish_reason is not None:
            message = {"role": "assistant", "content": "".join(recording.text)}
            body = {
                **recording.head, "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": recording.finish_reason}],
                "usage": recording.usage,
            }  # fmt: skip
            self._store(call, body)
        return []


async def _replay(body: dict[str, Any], call: Call) -> AsyncGenerator[bytes, None]:
    """A stored completion as the stream a backend would have sent: role, text, finish, usage."""
    head = {"id": body.get("id"), "object": "chat.completion.chunk", "created": body.get("created"),
            "model": body.get("model")}  # fmt: skip
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    yield sse({**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
    yield sse({**head, "choices": [{"index": 0, "delta": {"content": message.get("content") or ""}}]})
    yield sse({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": choice.get("finish_reason")}]})
    if call.request.wants_usage_chunk and body.get("usage"):
        yield sse({**head, "choices": [], "usage": body["usage"]})
