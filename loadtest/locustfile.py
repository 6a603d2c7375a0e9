"""Locust scenarios against an inferstack gateway (`make loadtest`, or `locust -f` by hand).

Users (weights in brackets): chat non-stream [4], chat stream with TTFT and tokens/s recorded as
custom metrics [3], RAG question expecting `sources` [1], guard-heavy input with PII [1], a tenant
over its budget whose 429s are expected, not failures [1]. `LOADTEST_SHAPE=burst` replaces the
steady ramp with bursts. Keys: LOADTEST_KEY (main tenant), LOADTEST_QUOTA_KEY (the tenant that
hits its quota); the quota user is skipped when that key is unset. Model: LOADTEST_MODEL (auto).
"""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

from locust import FastHttpUser, LoadTestShape, between, events, task

MODEL = os.environ.get("LOADTEST_MODEL", "auto")
MAX_TOKENS = int(os.environ.get("LOADTEST_MAX_TOKENS", "16"))
QUESTIONS = [
    "What does the gateway do when a backend is down?",
    "Summarise the benefits of streaming responses in two sentences.",
    "Give me three tips for writing clear commit messages.",
    "hello, how are you today?",
    "Translate 'good morning' into French.",
]
PII_INPUTS = [
    "My name is Ana Souza, card 4111 1111 1111 1111, email ana.souza@example.com — why was I charged twice?",
    "Call me on +44 20 7946 0958 or write to j.smith@example.org about invoice 5531.",
    "I'm Wei Zhang from Shenzhen, IBAN DE89 3704 0044 0532 0130 00, please update my account.",
]


def _headers(key_env: str) -> dict[str, str]:
    key = os.environ.get(key_env, "")
    return {"Authorization": f"Bearer {key}"} if key else {}


def _chat(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": MAX_TOKENS,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def record_metric(name: str, value: float) -> None:
    """A custom metric as a Locust 'request' of type METRIC (value in the response-time column)."""
    events.request.fire(request_type="METRIC", name=name, response_time=value, response_length=0,
                        exception=None, context={})  # fmt: skip


class _GatewayUser(FastHttpUser):
    abstract = True
    wait_time = between(0.2, 1.0)
    key_env = "LOADTEST_KEY"

    def post_chat(self, name: str, body: dict[str, Any]) -> dict[str, Any] | None:
        with self.client.post("/v1/chat/completions", json=body, headers=_headers(self.key_env),
                              name=name, catch_response=True) as response:  # fmt: skip
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return None
            data: dict[str, Any] = response.json()
            return data


class ChatUser(_GatewayUser):
    weight = 4

    @task
    def chat(self) -> None:
        self.post_chat("chat", _chat(random.choice(QUESTIONS)))


class StreamUser(_GatewayUser):
    weight = 3

    @task
    def stream(self) -> None:
        body = _chat(random.choice(QUESTIONS), stream=True, stream_options={"include_usage": True})
        started = time.perf_counter()
        first: float | None = None
        tokens = 0
        with self.client.post("/v1/chat/completions", json=body, headers=_headers(self.key_env),
                              name="chat stream", stream=True, catch_response=True) as response:  # fmt: skip
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            buffer, done = b"", False
            # Small reads: a read returns as soon as one SSE event (> 64 bytes) has arrived.
            for piece in response.iter_content(chunk_size=64, decode_content=False):
                buffer += piece
                *events, buffer = buffer.split(b"\n\n")
                for event in events:
                    if event.startswith(b"data: [DONE]"):
                        done = True
                    elif b'"content":"' in event and b'"content":""' not in event:
                        first = first or time.perf_counter()
                        tokens += 1
            if not done:
                response.failure("stream ended without [DONE]")
                return
        if first is not None:
            record_metric("ttft_ms", (first - started) * 1000)
            elapsed = time.perf_counter() - first
            if tokens > 1 and elapsed > 0:
                record_metric("tokens_per_s", (tokens - 1) / elapsed)


class RagUser(_GatewayUser):
    weight = 1

    @task
    def rag_question(self) -> None:
        data = self.post_chat(
            "chat rag", _chat("How do I configure the router?", inferstack={"collection": "docs"})
        )
        if data is not None and not isinstance(data.get("inferstack", {}).get("sources"), list):
            failure = AssertionError("no sources list")
            events.request.fire(request_type="CHECK", name="rag sources present", response_time=0,
                                response_length=0, exception=failure, context={})  # fmt: skip


class GuardUser(_GatewayUser):
    weight = 1

    @task
    def pii_input(self) -> None:
        body = _chat(random.choice(PII_INPUTS))
        with self.client.post("/v1/chat/completions", json=body, headers=_headers(self.key_env),
                              name="chat guard-heavy", catch_response=True) as response:  # fmt: skip
            # A policy block is a correct answer for this traffic, not an error.
            blocked = response.status_code == 400 and b"content_policy_violation" in response.content
            if response.status_code != 200 and not blocked:
                response.failure(f"HTTP {response.status_code}")


class QuotaTenantUser(_GatewayUser):
    """A tenant over its budget: 429 `insufficient_quota` is the expected answer."""

    weight = 1
    key_env = "LOADTEST_QUOTA_KEY"

    def on_start(self) -> None:
        if not os.environ.get(self.key_env):
            self.stop()

    @task
    def over_quota(self) -> None:
        name = "chat over quota (429 expected)"
        with self.client.post("/v1/chat/completions", json=_chat("hi"), headers=_headers(self.key_env),
                              name=name, catch_response=True) as response:  # fmt: skip
            if (
                response.status_code == 429
                and json.loads(response.content)["error"]["code"] == "insufficient_quota"
            ):
                response.success()
            else:
                response.failure(f"expected 429 insufficient_quota, got HTTP {response.status_code}")


if os.environ.get("LOADTEST_SHAPE") == "burst":

    class BurstShape(LoadTestShape):
        """Quiet / burst cycles: 2 users for 10 s, then LOADTEST_BURST_USERS for 5 s."""

        def tick(self) -> tuple[int, float] | None:
            run_time = self.get_run_time()
            if run_time > float(os.environ.get("LOADTEST_BURST_SECONDS", "60")):
                return None
            burst = int(os.environ.get("LOADTEST_BURST_USERS", "20"))
            return (burst, burst) if run_time % 15 >= 10 else (2, 10)
