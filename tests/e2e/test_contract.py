"""Real answers of the session gateway (real vLLM, real stages) against the response models the
OpenAPI page publishes (inferstack.serving.schemas): the published contract is the served one."""

from __future__ import annotations

import httpx
import orjson
import pytest

from inferstack.serving import schemas
from tests.e2e.conftest import Gateway

pytestmark = pytest.mark.e2e
ASK = [{"role": "user", "content": "Name one colour."}]


def test_chat_answers_match_the_published_models(http: httpx.Client) -> None:
    body = http.post("/v1/chat/completions", json={"model": "auto", "messages": ASK, "max_tokens": 8}).json()
    schemas.ChatCompletion.model_validate(body)
    text = http.post(
        "/v1/completions", json={"model": "smollm2-135m", "prompt": "Red, green,", "max_tokens": 4}
    )
    schemas.Completion.model_validate(text.json())
    with http.stream(
        "POST",
        "/v1/chat/completions",
        json={"model": "auto", "messages": ASK, "max_tokens": 8, "stream": True},
    ) as response:
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]  # fmt: skip
    assert events[-1] == "[DONE]"
    chunks = [schemas.ChatCompletionChunk.model_validate(orjson.loads(e)) for e in events[:-1]]
    assert chunks[-1].inferstack is not None and chunks[-1].inferstack.route is not None


def test_stage_endpoints_match_the_published_models(gateway: Gateway, http: httpx.Client) -> None:
    schemas.ClassifyResponse.model_validate(http.post("/v1/classify", json={"text": "hi, I am Ana"}).json())
    scan = http.post("/v1/guard/scan", json={"text": "mail me at ana@example.com"}).json()
    schemas.GuardScanResponse.model_validate(scan)
    route = http.post("/v1/route", json={"model": "auto", "messages": ASK}).json()
    schemas.RouteDryRun.model_validate(route)
    docs = {"documents": [{"id": "a", "text": "The office opens at nine."}]}
    schemas.IngestResponse.model_validate(http.post("/v1/collections/contract/documents", json=docs).json())
    found = http.post("/v1/retrieve", json={"collection": "contract", "query": "opening hours"}).json()
    schemas.RetrieveResponse.model_validate(found)
    deleted = http.delete("/v1/collections/contract/documents/a").json()
    schemas.DocumentDeleted.model_validate(deleted)
    vectors = http.post("/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": ["a", "b"]}).json()
    schemas.EmbeddingList.model_validate(vectors)
    schemas.ModelList.model_validate(http.get("/v1/models").json())
    schemas.Readiness.model_validate(http.get("/ready").json())
    missing = http.delete("/v1/collections/contract/documents/a")
    schemas.ErrorResponse.model_validate(missing.json())
