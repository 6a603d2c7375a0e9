"""Answers a stage makes itself (a canned reply, a cached answer), shaped as the backend's would
be: an OpenAI body, or the SSE events of a stream when the request streams."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from typing import Any

from inferstack.pipeline.call import Call
from inferstack.pipeline.stage import Answer
from inferstack.router.executor import DONE, sse

_NO_TOKENS = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}  # no model ran


def text_answer(call: Call, text: str) -> Answer:
    """`text` as the whole answer to `call`: a chat message or a text completion."""
    chat = call.chat
    head = {
        "id": f"{'chatcmpl' if chat else 'cmpl'}-{call.request_id}",
        "object": ("chat.completion" if chat else "text_completion")
        + (".chunk" if chat and call.request.stream else ""),
        "created": int(time.time()),
        "model": call.request.model,
    }
    if not call.request.stream:
        content: dict[str, Any] = (
            {"message": {"role": "assistant", "content": text}} if chat else {"text": text}
        )
        return {
            **head,
            "choices": [{"index": 0, **content, "finish_reason": "stop"}],
            "usage": dict(_NO_TOKENS),
        }
    return _events(head, text, chat, call.request.wants_usage_chunk)


async def _events(head: dict[str, Any], text: str, chat: bool, usage: bool) -> AsyncGenerator[bytes, None]:
    if chat:
        yield sse({**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": text},
                                        "finish_reason": None}]})  # fmt: skip
        yield sse({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    else:
        yield sse({**head, "choices": [{"index": 0, "text": text, "finish_reason": "stop"}]})
    if usage:
        yield sse({**head, "choices": [], "usage": dict(_NO_TOKENS)})
    yield DONE + b"\n\n"
