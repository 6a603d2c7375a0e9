"""The guard stages: redact or block the request's user text before any stage below sees it
(input_guard), and filter the answer, whole or chunk by chunk on a stream (output_guard)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from inferstack.config import Settings
from inferstack.guard.service import GuardService
from inferstack.guard.stream import OutputFilter, StreamBuffer
from inferstack.pipeline.call import Call, Request
from inferstack.pipeline.protocol import CompletionRequest
from inferstack.pipeline.stage import Components, Stage
from inferstack.router.executor import sse


def user_texts(request: Request) -> list[str]:
    if isinstance(request, CompletionRequest):
        prompt = request.prompt
        return [prompt] if isinstance(prompt, str) else [p for p in prompt if isinstance(p, str)]
    return [text for message in request.messages if message.role == "user" for text in message.texts()]


def with_texts(request: Request, texts: list[str]) -> Request:
    """The request with its user texts replaced, in the order `user_texts` read them."""
    replacements = iter(texts)
    if isinstance(request, CompletionRequest):
        prompt: Any = (
            next(replacements)
            if isinstance(request.prompt, str)
            else [next(replacements) if isinstance(p, str) else p for p in request.prompt]
        )
        return request.model_copy(update={"prompt": prompt})
    messages = [m.with_texts(replacements) if m.role == "user" else m for m in request.messages]
    return request.model_copy(update={"messages": messages})


class _GuardStage(Stage):
    """Both guard stages run over the one GuardService of the lifespan."""

    def __init__(self, guard: GuardService) -> None:
        self.guard = guard

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return settings.guard.enabled

    @classmethod
    def build(cls, parts: Components) -> Stage | None:
        return cls(parts.guard) if parts.guard is not None else None


class InputGuardStage(_GuardStage):
    """PII/secret redaction and injection/jailbreak/toxicity checks on the user's text; raises
    GuardBlocked (400 content_policy_violation) when the tenant's policy blocks."""

    name = "input_guard"

    async def on_request(self, call: Call) -> None:
        texts = user_texts(call.request)
        verdict = await self.guard.check_input(texts, call.tenant)
        if verdict.texts != texts:
            call.request = with_texts(call.request, verdict.texts)
        call.pseudonyms = verdict.pseudonyms
        call.extension["guard"] = verdict.summary


@dataclass
class _Filtered:
    """One call's output filters (one per answer choice) and what they found."""

    guard: GuardService
    tenant: str
    pseudonyms: Any
    filters: list[OutputFilter] = field(default_factory=list)
    buffers: dict[int, StreamBuffer] = field(default_factory=dict)

    def new_filter(self) -> OutputFilter:
        output = self.guard.output_filter(self.tenant, self.pseudonyms)
        self.filters.append(output)
        return output

    def report(self) -> dict[str, Any]:
        found: dict[str, int] = {}
        for output in self.filters:
            for kind, n in self.guard.record_output(output).items():
                found[kind] = found.get(kind, 0) + n
        return {"findings": found}


class OutputGuardStage(_GuardStage):
    """Pattern PII, secrets, links and toxic words in the answer; pseudonyms restored when the
    policy says so. On a stream only a short tail is held back (guard.stream)."""

    name = "output_guard"

    async def on_request(self, call: Call) -> None:
        call.state[self.name] = _Filtered(self.guard, call.tenant, call.pseudonyms)

    def _report(self, call: Call, filtered: _Filtered) -> None:
        # Screened-out retrieved chunks are reported once, in `retrieval.screened_out`.
        call.extension["guard"] = {**(call.extension["guard"] or {}), "output": filtered.report()}

    async def on_body(self, call: Call, body: dict[str, Any]) -> None:
        filtered: _Filtered = call.state[self.name]
        for choice in body.get("choices") or []:
            message = choice.get("message")
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                message["content"] = filtered.new_filter().apply(message["content"])
            elif isinstance(choice.get("text"), str):
                choice["text"] = filtered.new_filter().apply(choice["text"])
        self._report(call, filtered)

    def on_event(self, call: Call, event: bytes) -> bytes:
        """The event with its text filtered (empty text while a tail is held back)."""
        chunk = orjson.loads(event[6:])
        choices = chunk.get("choices") or []
        if not choices:
            return event
        filtered: _Filtered = call.state[self.name]
        buffers = filtered.buffers
        for choice in choices:
            index = choice.get("index", 0)
            buffer = buffers.get(index) or buffers.setdefault(index, filtered.new_filter().stream())
            delta = choice.get("delta")
            key, holder = ("content", delta) if isinstance(delta, dict) else ("text", choice)
            text = holder.get(key)
            if isinstance(text, str):
                holder[key] = buffer.feed(text)
            if choice.get("finish_reason") is not None:
                holder[key] = (holder.get(key) or "") + buffer.flush()
        return sse(chunk)

    async def on_stream_end(self, call: Call) -> list[bytes]:
        """Whatever is still held back when the stream ends without a finish_reason."""
        filtered: _Filtered = call.state[self.name]
        out = []
        for index, buffer in filtered.buffers.items():
            rest = buffer.flush()
            if rest:
                choice = (
                    {"index": index, "delta": {"content": rest}}
                    if call.chat
                    else {"index": index, "text": rest}
                )
                out.append(sse({**call.stream_head, "choices": [{**choice, "finish_reason": None}]}))
        self._report(call, filtered)
        return out
