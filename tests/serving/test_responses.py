"""SSE responses release their generator (backend stream, in-flight slot) when the client leaves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from starlette.responses import StreamingResponse
from starlette.types import Message

from inferstack.serving.responses import ClosingStreamingResponse


async def _serve(response: StreamingResponse) -> None:
    """The client disconnects while a chunk is being written (a slow `send`, where Starlette's
    cancellation then lands), with the generator suspended at its `yield`."""
    sent = asyncio.Event()

    async def receive() -> Message:
        await sent.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            sent.set()
            await asyncio.sleep(1)

    await response({"type": "http", "asgi": {"spec_version": "2.3"}}, receive, send)


def _events(closed: list[str]) -> AsyncGenerator[bytes, None]:
    async def events() -> AsyncGenerator[bytes, None]:
        try:
            while True:
                yield b"data: {}\n\n"
        finally:
            closed.append("closed")

    return events()


async def test_a_client_gone_mid_send_closes_the_generator_at_once() -> None:
    closed: list[str] = []
    await _serve(ClosingStreamingResponse(_events(closed), headers={}))
    assert closed == ["closed"]


async def test_starlette_alone_leaves_it_to_garbage_collection() -> None:
    """Why the subclass exists: the plain response returns with the generator still open
    (Starlette is pinned; if an upgrade closes it, this fails and the subclass can go)."""
    closed: list[str] = []
    body = _events(closed)
    await _serve(StreamingResponse(body))
    assert closed == []
    await body.aclose()
