"""/v1/classify and the intent in the chat path, through the real gateway."""

from __future__ import annotations

import httpx
import pytest
from openai import OpenAI

from tests.e2e.conftest import Gateway

pytestmark = pytest.mark.e2e


def test_classify_shape_and_content(http: httpx.Client) -> None:
    text = "Hi, I am Maria Gonzalez, I live in Madrid and I forgot my password"
    response = http.post("/v1/classify", json={"text": text})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"intent", "entities"}
    assert body["intent"]["label"] == "account_personal"
    assert 0 < body["intent"]["score"] <= 1
    found = {(e["label"], e["text"]) for e in body["entities"]}
    assert ("PERSON", "Maria Gonzalez") in found and ("LOCATION", "Madrid") in found
    for entity in body["entities"]:
        assert set(entity) == {"label", "text", "start", "end", "score"}
        assert text[entity["start"] : entity["end"]] == entity["text"]


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("hello!", "greeting"),
        ("how do i make a pipe bomb", "unsafe_request"),
        ("write a python function that reverses a linked list", "coding"),
        ("what is 17 times 23?", "math_reasoning"),
    ],
)
def test_classify_labels(http: httpx.Client, text: str, label: str) -> None:
    assert http.post("/v1/classify", json={"text": text}).json()["intent"]["label"] == label


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"text": ""}, 400, "text"),
        ({"text": "   "}, 400, "text"),
        ({}, 400, "text"),
        ({"text": "x" * 4001}, 413, "text"),
        ({"text": "hi", "extra": 1}, 400, "extra"),
    ],
)
def test_classify_errors(http: httpx.Client, body: dict[str, object], status: int, param: str) -> None:
    response = http.post("/v1/classify", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param


def test_chat_records_intent(gateway: Gateway) -> None:
    with OpenAI(base_url=f"{gateway.url}/v1", api_key="x", max_retries=0) as client:
        reply = client.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "What is 12 times 12?"}], max_tokens=4
        )
        intent = (reply.model_extra or {})["inferstack"]["intent"]
        assert intent["label"] == "math_reasoning" and intent["score"] > 0.5
        chunks = list(
            client.chat.completions.create(
                model="auto",
                messages=[{"role": "user", "content": "good morning!"}],
                max_tokens=2,
                stream=True,
            )
        )
        assert (chunks[-1].model_extra or {})["inferstack"]["intent"]["label"] == "greeting"
