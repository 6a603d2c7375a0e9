"""One OpenAI-compatible HTTP backend: a pooled async client, health state, error mapping.

The client is aiohttp, not httpx: on this 2-core box an httpx round trip to an instant server
costs 1.36 ms p50 against 0.59 ms for aiohttp (measured with loadtest/fake_openai_server.py),
and the gateway's whole overhead budget is 2 ms.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson

from inferstack.errors import BackendError, BackendTimeout, BackendUnavailable, InferstackError


class BackendState(enum.StrEnum):
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    RESTARTING = "restarting"
    STOPPED = "stopped"


_JSON = {"Content-Type": "application/json"}


class OpenAIBackend:
    """Reaches one deployment. `state` is kept current by a supervisor or a health poller.

    Build it inside the running event loop (the app lifespan): the session binds to it.
    """

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        connect_timeout_s: float,
        read_timeout_s: float,
        total_timeout_s: float,
        max_connections: int,
        api_key: str | None = None,
        health_url: str | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.total_timeout_s = total_timeout_s
        self.health_url = health_url or self.base_url.removesuffix("/v1") + "/health"
        self._state = BackendState.STARTING
        self.lapses = 0  # times it went from healthy to anything else (a restart loses its cache)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._session = aiohttp.ClientSession(
            headers=headers,
            connector=aiohttp.TCPConnector(limit=max_connections, keepalive_timeout=30),
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=connect_timeout_s, sock_read=read_timeout_s
            ),
            auto_decompress=False,
        )

    @property
    def state(self) -> BackendState:
        return self._state

    @state.setter
    def state(self, state: BackendState) -> None:
        if self._state is BackendState.HEALTHY and state is not BackendState.HEALTHY:
            self.lapses += 1
        self._state = state

    @property
    def healthy(self) -> bool:
        return self.state is BackendState.HEALTHY

    def mark(self, state: str) -> None:
        """Set by whoever watches the backend (a process supervisor, a health poller)."""
        self.state = BackendState(state)

    async def aclose(self) -> None:
        await self._session.close()

    async def probe(self, timeout_s: float = 2.0) -> bool:
        """One health check against the backend's health URL."""
        try:
            async with self._session.get(
                self.health_url, timeout=aiohttp.ClientTimeout(total=timeout_s)
            ) as response:
                await response.read()
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def fetch_bytes(self, url: str, timeout_s: float = 2.0) -> bytes | None:
        """GET a side endpoint (vLLM `/metrics`); None when it does not answer 200."""
        try:
            async with self._session.get(url, timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError):
            return None
        return body if response.status == 200 else None

    def require_healthy(self) -> None:
        if self.state is not BackendState.HEALTHY:
            raise BackendUnavailable(f"deployment {self.name} is {self.state.value}")

    def _post(self, path: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> Any:
        return self._session.post(self.base_url + path, data=orjson.dumps(body), headers={**_JSON, **headers})

    async def post_json(
        self, path: str, body: Mapping[str, Any], headers: Mapping[str, str]
    ) -> dict[str, Any]:
        """Non-streaming call; the whole request runs under the total deadline."""
        self.require_healthy()
        try:
            async with asyncio.timeout(self.total_timeout_s), self._post(path, body, headers) as response:
                content = await response.read()
        except Exception as exc:  # noqa: BLE001 - mapped to an OpenAI error or re-raised
            raise self.map_error(exc) from None
        if response.status != 200:
            raise _error_from(response.status, content, self.name)
        data: dict[str, Any] = orjson.loads(content)
        return data

    @asynccontextmanager
    async def stream(
        self, path: str, body: Mapping[str, Any], headers: Mapping[str, str]
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """Open a streaming call. Errors before the first byte raise here (so the gateway can
        still answer with a proper status); the yielded iterator gives SSE events as bytes,
        each ending with a blank line. Leaving the block early closes the connection, which
        makes vLLM abort the generation."""
        self.require_healthy()
        try:
            async with asyncio.timeout(self.total_timeout_s):
                response = await self._post(path, body, headers)
                if response.status != 200:
                    content = await response.read()
                    response.release()
                    raise _error_from(response.status, content, self.name)
        except Exception as exc:  # noqa: BLE001 - mapped to an OpenAI error or re-raised
            raise self.map_error(exc) from None
        # After the headers only the per-read timeout applies: a long answer is not an error.
        try:
            yield sse_events(response.content.iter_any())
        except Exception as exc:  # noqa: BLE001 - mid-stream failure, same mapping
            raise self.map_error(exc) from None
        finally:
            response.close()  # drop the connection unless fully read: vLLM sees the disconnect

    def map_error(self, exc: Exception) -> Exception:
        """Transport failures -> OpenAI errors (503 unreachable / 504 slow); others unchanged."""
        if isinstance(exc, InferstackError):
            return exc
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return BackendUnavailable(f"deployment {self.name} is unreachable (connect timeout)")
        if isinstance(exc, TimeoutError):
            return BackendTimeout(f"deployment {self.name} did not answer in time")
        if isinstance(exc, aiohttp.ClientError):
            return BackendUnavailable(f"deployment {self.name} is unreachable")
        return exc


async def sse_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Re-frame arbitrary network chunks into whole SSE events (each ends with a blank line)."""
    buffer = b""
    async for piece in chunks:
        buffer += piece
        while (cut := buffer.find(b"\n\n")) >= 0:
            yield buffer[: cut + 2]
            buffer = buffer[cut + 2 :]
    if buffer.strip():
        yield buffer + b"\n\n"


def _error_from(status: int, content: bytes, name: str) -> Exception:
    if status >= 500:
        if status in (502, 503):
            return BackendUnavailable(f"deployment {name} answered {status}")
        if status == 504:
            return BackendTimeout(f"deployment {name} timed out upstream")
        return BackendError(502, {"message": f"deployment {name} failed ({status})", "type": "server_error"})
    try:
        payload = orjson.loads(content)
    except orjson.JSONDecodeError:
        payload = None
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        # Older vLLM versions answer {"object": "error", "message": ...} at the top level.
        error = payload if isinstance(payload, dict) and "message" in payload else {}
    return BackendError(status, error or {"message": f"backend answered {status}"})
