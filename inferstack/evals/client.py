"""Where an evaluation sends its requests: a running gateway (`--against URL`), or one started
in this process from the same settings, with no model server (the sets need only the guard,
the classifier, the embedder, the reranker and the router's decision)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import httpx

from inferstack.config import Settings
from inferstack.config.models import RemoteBackend
from inferstack.config.serving import AuthConfig


class EvalError(RuntimeError):
    """The gateway refused an evaluation request (status and its error message)."""


class EvalClient:
    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.latencies: dict[str, list[float]] = {}

    def _check(self, path: str, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise EvalError(f"{path}: HTTP {response.status_code}: {message}")
        return response.json()

    def post(self, path: str, body: dict[str, Any], kind: str) -> Any:
        """POST and time it; `kind` groups the latencies (one per evaluation)."""
        started = time.perf_counter()
        response = self.http.post(path, json=body)
        self.latencies.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
        return self._check(path, response)

    def delete(self, path: str, *, missing_ok: bool = False) -> Any:
        response = self.http.delete(path)
        if missing_ok and response.status_code == 404:
            return None
        return self._check(path, response)

    def reset(self, kind: str) -> None:
        self.latencies.pop(kind, None)

    def latency(self, kind: str) -> dict[str, float]:
        values = sorted(self.latencies.get(kind, []))
        if not values:
            return {}
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        return {"p50_ms": round(statistics.median(values), 2), "p95_ms": round(p95, 2)}


def eval_settings(settings: Settings, store: Path) -> Settings:
    """The same stages, without model servers: each deployment becomes a remote one that is
    never called (the router still sees its tier, cost and capabilities), auth is off (the
    client is this process) and retrieval uses its own Milvus Lite file."""
    unused = RemoteBackend(base_url="http://127.0.0.1:9/v1", health_url=None, api="openai")
    models = tuple(m.model_copy(update={"serve": unused, "required": False}) for m in settings.models)
    retrieval = settings.retrieval.model_copy(update={"milvus_uri": str(store)})
    return settings.model_copy(
        update={"models": models, "auth": AuthConfig(), "host": "127.0.0.1", "retrieval": retrieval}
    )


@contextmanager
def in_process(settings: Settings, store: Path) -> Iterator[EvalClient]:
    from fastapi.testclient import TestClient

    from inferstack.serving.app import create_app

    with TestClient(create_app(eval_settings(settings, store)), base_url="http://eval") as client:
        yield EvalClient(cast(httpx.Client, client))  # a TestClient is an httpx.Client over the app


@contextmanager
def remote(url: str, api_key: str | None) -> Iterator[EvalClient]:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=120) as client:
        yield EvalClient(client)
