"""The guard steps of the chat path: redact or block the request's user text before any other
stage sees it, and filter the answer (whole, or chunk by chunk on a stream)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from inferstack.guard.service import GuardService
from inferstack.guard.stream import OutputFilter, StreamBuffer
from inferstack.router.executor import sse
from inferstack.serving.protocol import ChatCompletionRequest, CompletionRequest

Request = ChatCompletionRequest | CompletionRequest


def _user_texts(request: Request) -> list[str]:
    if isinstance(request, CompletionRequest):
        prompt = request.prompt
        return [prompt] if isinstance(prompt, str) else [p for p in prompt if isinstance(p, str)]
    return [text for message in request.messages if message.role == "user" for text in message.texts()]


def _with_texts(request: Request, texts: list[str]) -> Request:
    """The request with its user texts replaced, in the order `_user_texts` read them."""
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


@dataclass
class GuardedCall:
    """One request's guard state: the input summary, the output filters, what they found."""

    guard: GuardService
    tenant: str
    summary: dict[str, Any]
    pseudonyms: Any = None
    _filters: list[OutputFilter] = field(default_factory=list)
    _buffers: dict[int, StreamBuffer] = field(default_factory=dict)

    def _filter(self) -> OutputFilter:
        output = self.guard.output_filter(self.tenant, self.pseudonyms)
        self._filters.append(output)
        return output

    def guard_body(self, body: dict[str, Any]) -> None:
        for choice in body.get("choices") or []:
            message = choice.get("message")
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                message["content"] = self._filter().apply(message["content"])
            elif isinstance(choice.get("text"), str):
                choice["text"] = self._filter().apply(choice["text"])

    def guard_event(self, event: bytes) -> bytes:
        """A stream event with its text filtered (empty text while a tail is held back)."""
        chunk = orjson.loads(event[6:])
        choices = chunk.get("choices") or []
        if not choices:
            return event
        for choice in choices:
            index = choice.get("index", 0)
            buffer = self._buffers.get(index) or self._buffers.setdefault(index, self._filter().stream())
            delta = choice.get("delta")
            key, holder = ("content", delta) if isinstance(delta, dict) else ("text", choice)
            text = holder.get(key)
            if isinstance(text, str):
                holder[key] = buffer.feed(text)
            if choice.get("finish_reason") is not None:
                holder[key] = (holder.get(key) or "") + buffer.flush()
        return sse(chunk)

    def tail_events(self, meta: dict[str, Any], chat: bool) -> list[bytes]:
        """Whatever is still held back when the stream ends without a finish_reason."""
        out = []
        for index, buffer in self._buffers.items():
            rest = buffer.flush()
            if rest:
                choice = (
                    {"index": index, "delta": {"content": rest}} if chat else {"index": index, "text": rest}
                )
                out.append(sse({**meta, "choices": [{**choice, "finish_reason": None}]}))
        return out

    def report(self) -> dict[str, Any]:
        found: dict[str, int] = {}
        for output in self._filters:
            for kind, n in self.guard.record_output(output).items():
                found[kind] = found.get(kind, 0) + n
        # Screened-out retrieved chunks are reported once, in `retrieval.screened_out`.
        return {**self.summary, "output": {"findings": found}}


async def guard_request(guard: GuardService, request: Request, tenant: str) -> tuple[Request, GuardedCall]:
    """Raises GuardBlocked (400 content_policy_violation); else the request, redacted."""
    texts = _user_texts(request)
    verdict = await guard.check_input(texts, tenant)
    call = GuardedCall(guard, tenant, verdict.summary, verdict.pseudonyms)
    if verdict.texts != texts:
        request = _with_texts(request, verdict.texts)
    return request, call
