"""FAKE-FAST OpenAI server: a load target for measuring gateway overhead, nothing more.

It answers `/v1/chat/completions` instantly with a canned reply (non-stream, or a stream of
`--chunks` canned token chunks) so that the time a request spends in the gateway is not drowned
by model time. Never used by tests to make a capability pass.

    python loadtest/fake_openai_server.py --port 9100
"""

from __future__ import annotations

import argparse
import time

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

MODEL = "fake-fast"


def _completion() -> dict[str, object]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
    }


def build_app(chunks: int) -> Starlette:
    head = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": MODEL}
    token = (
        b"data: " + orjson.dumps({**head, "choices": [{"index": 0, "delta": {"content": " tok"}}]}) + b"\n\n"
    )
    role = (
        b"data: "
        + orjson.dumps({**head, "choices": [{"index": 0, "delta": {"role": "assistant"}}]})
        + b"\n\n"
    )
    usage = {"prompt_tokens": 10, "completion_tokens": chunks, "total_tokens": 10 + chunks}
    tail = b"data: " + orjson.dumps({**head, "choices": [], "usage": usage}) + b"\n\n" + b"data: [DONE]\n\n"

    async def chat(request: Request) -> Response:
        body = orjson.loads(await request.body())
        if not body.get("stream"):
            return Response(orjson.dumps(_completion()), media_type="application/json")

        async def events():  # type: ignore[no-untyped-def]
            yield role
            for _ in range(chunks):
                yield token
            yield tail

        return StreamingResponse(events(), media_type="text/event-stream")

    async def health(_: Request) -> Response:
        return Response(b"")

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]), Route("/health", health)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=64)
    args = parser.parse_args()
    uvicorn.run(build_app(args.chunks), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
