"""Retrieval through the public HTTP contract on the session gateway (real Milvus Lite file,
real MiniLM, the reranker trained here, real vLLM for the grounded chat)."""

from __future__ import annotations

import httpx
import pytest
from openai import OpenAI

from tests.e2e.conftest import Gateway

pytestmark = pytest.mark.e2e

DOCS = {
    "documents": [
        {"id": "handbook/vpn.md", "format": "md", "metadata": {"team": "it"},
         "text": "# VPN\n\nTo reach internal services from home, start the VPN client and sign in with your "
                 "badge number and the one-time code from the authenticator app."},
        {"id": "handbook/parking.md", "format": "md",
         "text": "# Parking\n\nVisitors park in the north lot. Register their licence plate at reception "
                 "so the barrier opens automatically."},
    ]
}  # fmt: skip


def test_ingest_retrieve_delete(http: httpx.Client) -> None:
    ingested = http.post("/v1/collections/handbook/documents", json=DOCS)
    assert ingested.status_code == 200 and ingested.json() == {"ingested": 2, "chunks": 2}
    again = http.post("/v1/collections/handbook/documents", json=DOCS)  # idempotent by id
    assert again.json() == {"ingested": 2, "chunks": 2}
    found = http.post(
        "/v1/retrieve", json={"collection": "handbook", "query": "working from home network", "top_k": 2}
    )
    results = found.json()["results"]
    assert found.status_code == 200 and results[0]["document_id"] == "handbook/vpn.md"
    assert results[0]["metadata"] == {"team": "it"} and results[0]["text"].startswith("VPN")
    assert len(results) == 2 and results[0]["score"] >= results[1]["score"]
    assert http.delete("/v1/collections/handbook/documents/handbook/parking.md").json()["deleted"] is True
    missing = http.delete("/v1/collections/handbook/documents/handbook/parking.md")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "document_not_found"
    left = http.post(
        "/v1/retrieve", json={"collection": "handbook", "query": "where do visitors park"}
    ).json()
    assert [r["document_id"] for r in left["results"]] == ["handbook/vpn.md"]


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/retrieve", {"collection": "bad-name!", "query": "x"}, "collection"),
        ("/v1/retrieve", {"collection": "kb", "query": "   "}, "query"),
        ("/v1/retrieve", {"collection": "kb", "query": "x", "top_k": 500}, "top_k"),
        ("/v1/collections/kb/documents", {"documents": []}, "documents"),
        (
            "/v1/collections/kb/documents",
            {"documents": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]},
            "documents",
        ),
        ("/v1/collections/bad-name!/documents", {"documents": [{"id": "a", "text": "x"}]}, "collection"),
    ],
)
def test_bad_input_names_the_param(http: httpx.Client, path: str, body: dict, param: str) -> None:
    response = http.post(path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"].startswith(param)


def test_chat_with_a_collection_cites_sources(gateway: Gateway, http: httpx.Client) -> None:
    http.post("/v1/collections/grounded/documents", json=DOCS).raise_for_status()
    client = OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)
    response = client.chat.completions.create(
        model="auto", max_tokens=16,
        messages=[{"role": "user", "content": "How do I get onto the internal network from home?"}],
        extra_body={"inferstack": {"collection": "grounded"}},
    )  # fmt: skip
    extension = response.model_extra["inferstack"]
    assert extension["retrieval"]["status"] == "ok" and extension["retrieval"]["collection"] == "grounded"
    sources = extension["sources"]
    assert sources[0]["document_id"] == "handbook/vpn.md" and sources[0]["index"] == 1
    assert {"chunk_id", "title", "score"} <= set(sources[0])
    # The grounded prompt (system message with the numbered sources) reached the model.
    assert response.usage is not None and response.usage.prompt_tokens > 60
