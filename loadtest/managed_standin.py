"""STAND-IN for a managed OpenAI-compatible API, for router tests: a real HTTP server process on
loopback that the gateway reaches over the network like any managed provider.

It checks the bearer key, answers chat completions with deterministic text (stream or not,
with a configurable delay per token), continues a trailing assistant message as a prefix, and
reports usage. Test-only hooks: `POST /_fail {"count": n, "status": s}` makes the next n chat
calls fail with status s; `GET /_received` returns the request bodies it got (newest last).

    python loadtest/managed_standin.py --port P --key K [--token-delay-s 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

WORDS = [
    "the",
    "managed",
    "stand-in",
    "continues",
    "this",
    "answer",
    "with",
    "plain",
    "words",
    "until",
    "the",
    "token",
    "limit",
]


def _json(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


def build_app(key: str, token_delay_s: float) -> Starlette:
    state: dict[str, Any] = {"fail_count": 0, "fail_status": 503, "received": []}

    async def chat(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {key}":
            return _json({"error": {"message": "bad key", "type": "authentication_error"}}, 401)
        body = orjson.loads(await request.body())
        state["received"].append(body)
        if state["fail_count"] > 0:
            state["fail_count"] -= 1
            return _json(
                {"error": {"message": "injected failure", "type": "server_error"}}, state["fail_status"]
            )
        limit = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
        tokens = [(" " if i else "") + WORDS[i % len(WORDS)] for i in range(limit)]
        prompt_chars = sum(len(str(m.get("content") or "")) for m in body["messages"])
        usage = {"prompt_tokens": prompt_chars // 4, "completion_tokens": limit,
                 "total_tokens": prompt_chars // 4 + limit}  # fmt: skip
        head = {"id": "chatcmpl-standin", "created": int(time.time()), "model": body["model"]}
        if not body.get("stream"):
            message = {"role": "assistant", "content": "".join(tokens)}
            choice = {"index": 0, "message": message, "finish_reason": "length"}
            return _json({**head, "object": "chat.completion", "choices": [choice], "usage": usage})
        head["object"] = "chat.completion.chunk"

        def event(payload: dict[str, Any]) -> bytes:
            return b"data: " + orjson.dumps({**head, **payload}) + b"\n\n"

        async def events() -> AsyncIterator[bytes]:
            yield event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
            for i, token in enumerate(tokens):
                await asyncio.sleep(token_delay_s)
                finish = "length" if i == len(tokens) - 1 else None
                yield event({"choices": [{"index": 0, "delta": {"content": token}, "finish_reason": finish}]})
            if (body.get("stream_options") or {}).get("include_usage"):
                yield event({"choices": [], "usage": usage})
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def fail(request: Request) -> Response:
        order = orjson.loads(await request.body())
        state["fail_count"], state["fail_status"] = int(order["count"]), int(order.get("status", 503))
        return _json({"ok": True})

    async def received(_: Request) -> Response:
        return _json(state["received"])

    async def models(_: Request) -> Response:
        return _json({"object": "list", "data": [{"id": "standin-large", "object": "model"}]})

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/models", models),
            Route("/_fail", fail, methods=["POST"]),
            Route("/_received", received),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--token-delay-s", type=float, default=0.01)
    args = parser.parse_args()
    uvicorn.run(
        build_app(args.key, args.token_delay_s), host="127.0.0.1", port=args.port, log_level="warning"
    )


if __name__ == "__main__":
    main()
