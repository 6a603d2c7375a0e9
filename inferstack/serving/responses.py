"""JSON responses serialised with orjson (FastAPI's ORJSONResponse is deprecated), and SSE
streams that close their generator when the response ends."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


class ClosingStreamingResponse(StreamingResponse):
    """Closes the body generator however the response ends. Starlette cancels the send loop when
    the client goes away; a generator left suspended at a `yield` would hold its backend stream
    and in-flight slot until garbage collection."""

    def __init__(self, body: AsyncGenerator[bytes, None], headers: Mapping[str, str]) -> None:
        super().__init__(body, media_type="text/event-stream", headers=headers)
        self._body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._body.aclose()
