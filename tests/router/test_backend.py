"""Backend client logic: SSE framing across arbitrary chunking, error mapping, health gate,
connection failures against a closed loopback port. Real-vLLM behaviour is in tests/e2e."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from inferstack.errors import BackendError, BackendTimeout, BackendUnavailable
from inferstack.router.backend import BackendState, OpenAIBackend, _error_from, sse_events
from tests.ports import free_port

EVENTS = [b'data: {"a":1}\n\n', b'data: {"b":"x\\ny"}\n\n', b"data: [DONE]\n\n"]


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.parametrize("size", [1, 3, 7, 64, 10_000])
async def test_sse_events_survive_any_chunking(size: int) -> None:
    assert [e async for e in sse_events(pieces(b"".join(EVENTS), size))] == EVENTS


async def test_trailing_event_without_blank_line_is_kept() -> None:
    assert [e async for e in sse_events(pieces(b"data: [DONE]\n", 4))] == [b"data: [DONE]\n\n\n"]


def closed_port_backend() -> OpenAIBackend:
    backend = OpenAIBackend(
        "b", f"http://127.0.0.1:{free_port()}/v1", connect_timeout_s=1, read_timeout_s=1, total_timeout_s=5,
        max_connections=4,
    )  # fmt: skip
    backend.state = BackendState.HEALTHY
    return backend


async def test_connect_refused_is_unavailable() -> None:
    backend = closed_port_backend()
    try:
        with pytest.raises(BackendUnavailable, match="unreachable"):
            await backend.post_json("/chat/completions", {}, {})
        with pytest.raises(BackendUnavailable, match="unreachable"):
            async with backend.stream("/chat/completions", {}, {}):
                pass
        assert not await backend.probe()
    finally:
        await backend.aclose()


async def test_unhealthy_backend_fails_fast() -> None:
    backend = closed_port_backend()
    backend.state = BackendState.RESTARTING
    try:
        with pytest.raises(BackendUnavailable, match="restarting"):
            await backend.post_json("/x", {}, {})
    finally:
        await backend.aclose()


@pytest.mark.parametrize(
    ("status", "content", "kind", "mapped_status", "param"),
    [
        (500, b"boom", BackendError, 502, None),
        (502, b"", BackendUnavailable, 503, None),
        (503, b"", BackendUnavailable, 503, None),
        (504, b"", BackendTimeout, 504, None),
        (400, b'{"error":{"message":"m","type":"BadRequestError","param":"messages","code":400}}',
         BackendError, 400, "messages"),
        (400, b'{"object":"error","message":"old style","param":"n"}', BackendError, 400, "n"),
        (422, b"not json", BackendError, 422, None),
    ],
)  # fmt: skip
def test_error_mapping(
    status: int, content: bytes, kind: type, mapped_status: int, param: str | None
) -> None:
    error = _error_from(status, content, "b")
    assert isinstance(error, kind) and error.status == mapped_status
    assert error.param == param
