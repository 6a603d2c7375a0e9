"""The answer cache on the session's real gateway and vLLM: a repeated temperature-0 request is
answered from the cache with the same content and never reaches the backend (counted at vLLM);
a stream is replayed as a valid SSE stream; PII, sampling and Cache-Control skip it."""

from __future__ import annotations

import json
import os

import httpx
import pytest

from tests.e2e.conftest import Gateway, settled_generated, vllm_counts

pytestmark = pytest.mark.e2e
MODEL = "smollm2-135m"


def _ask(text: str, **extra: object) -> dict[str, object]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], "max_tokens": 12,
            "temperature": 0, **extra}  # fmt: skip


def test_a_repeated_request_is_a_hit_with_the_same_answer_and_no_backend_work(
    http: httpx.Client, gateway: Gateway
) -> None:
    # New to this gateway's in-memory cache. No random suffix: one like "(20451187)" reads as PII
    # to the guard, and a request with PII is never cached (`skip`), which failed a full run.
    body = _ask("Name a colour.")
    first = http.post("/v1/chat/completions", json=body)
    assert first.status_code == 200 and first.headers["x-inferstack-cache"] == "miss"
    generated = settled_generated(gateway.vllm_url)
    second = http.post("/v1/chat/completions", json=body)
    assert second.headers["x-inferstack-cache"] == "hit"
    assert second.json()["choices"] == first.json()["choices"]
    route = second.json()["inferstack"]["route"]
    assert (route["deployment"], route["cache"], route["actual_cost_usd"]) == (MODEL, "hit", 0.0)
    with http.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as streamed:
        assert streamed.headers["x-inferstack-cache"] == "hit"
        events = [line[6:] for line in streamed.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c.get("choices"))
    assert text == first.json()["choices"][0]["message"]["content"]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"} and "inferstack" in chunks[-1]
    assert vllm_counts(gateway.vllm_url)[2] == generated  # neither hit reached vLLM
    metrics = http.get("/metrics").text
    assert 'inferstack_answer_cache_total{result="hit"}' in metrics


def test_what_is_not_cached(http: httpx.Client) -> None:
    unique = os.urandom(4).hex()
    cases = {
        "sampling": _ask(f"Say a word. {unique}", temperature=0.8),
        "pii": _ask(f"Write to jane.doe.{unique}@example.com about the invoice."),
        "session": {**_ask(f"Hello {unique}"), "inferstack": {"session_id": f"cache-{unique}"}},
    }
    for name, body in cases.items():
        for _ in range(2):
            answer = http.post("/v1/chat/completions", json=body)
            assert answer.status_code == 200 and answer.headers["x-inferstack-cache"] == "skip", name
    body = _ask(f"Count to three. {unique}")
    assert http.post("/v1/chat/completions", json=body).headers["x-inferstack-cache"] == "miss"
    fresh = http.post("/v1/chat/completions", json=body, headers={"Cache-Control": "no-cache"})
    assert fresh.headers["x-inferstack-cache"] == "miss"  # looked past the cache, as asked
    assert http.post("/v1/chat/completions", json=body).headers["x-inferstack-cache"] == "hit"
    nostore = http.post("/v1/chat/completions", json=body, headers={"Cache-Control": "no-store"})
    assert nostore.headers["x-inferstack-cache"] == "skip"
