"""The development guide's example stage (docs/examples/canned_greeting.py), run as a user would:
one class, one entry in `pipeline.stages`. The only deployment is down, so an answer can only
come from the stage itself; the intent comes from the real classifier trained here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from inferstack.config import Settings
from inferstack.serving.app import create_app
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "canned_greeting.py"
STAGES = ["classify", "canned_greeting:CannedGreeting", "retrieve", "route", "usage", "generate"]


def test_the_guide_shows_the_example_as_it_is_tested() -> None:
    guide = (ROOT / "docs" / "development.md").read_text()
    code = EXAMPLE.read_text()
    assert code.split('"""', 2)[2].strip() in guide  # the class and its imports, verbatim
    assert "canned_greeting:CannedGreeting" in guide


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.syspath_prepend(str(EXAMPLE.parent))
    settings = Settings(
        models=[{"name": "down", "serve": {"kind": "remote", "base_url": f"http://127.0.0.1:{free_port()}/v1"},
                 "timeouts": {"connect_s": 0.5}}],
        embeddings={"enabled": False},
        guard={"enabled": False},
        pipeline={"stages": STAGES},
    )  # fmt: skip
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def chat(text: str, **extra: object) -> dict[str, object]:
    return {"model": "auto", "messages": [{"role": "user", "content": text}], **extra}


def test_the_stage_answers_a_greeting_without_the_backend(client: TestClient) -> None:
    response = client.post("/v1/chat/completions", json=chat("hello there!"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hello! What can I do for you?"}
    extension = body["inferstack"]
    assert extension["intent"]["label"] == "greeting" and extension["route"] is None
    assert list(extension["timings_ms"]) == ["classify", "canned_greeting"]  # nothing below it ran


def test_the_stage_answers_a_stream_too(client: TestClient) -> None:
    with client.stream("POST", "/v1/chat/completions", json=chat("hi!", stream=True)) as response:
        lines = [line for line in response.iter_lines() if line]
    assert response.status_code == 200 and lines[-1] == "data: [DONE]"
    chunks = [orjson.loads(line[6:]) for line in lines[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == (
        "Hello! What can I do for you?"
    )
    assert chunks[-1]["inferstack"]["intent"]["label"] == "greeting"


def test_anything_else_goes_on_to_the_backend(client: TestClient) -> None:
    response = client.post("/v1/chat/completions", json=chat("What is the boiling point of water in Kelvin?"))
    assert response.status_code == 503 and response.json()["error"]["code"] == "backend_unavailable"
