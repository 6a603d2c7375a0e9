"""HTTP behaviour of the app (middleware, error mapping, ops routes) without a model backend.

The one deployment points at a closed loopback port, so these run in milliseconds; the same
checks against a real vLLM live in tests/e2e.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from inferstack.config import Settings
from inferstack.serving.app import create_app
from tests.ports import free_port

CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


def settings(**extra: object) -> Settings:
    return Settings(
        models=[
            {
                "name": "remote-dead",
                "serve": {"kind": "remote", "base_url": f"http://127.0.0.1:{free_port()}/v1"},
                "timeouts": {"connect_s": 0.5},
            }
        ],
        embeddings={"enabled": False},
        classifier={"enabled": False},
        guard={"enabled": False},
        **{"sessions": {"enabled": False}, **extra},
    )


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(settings(limits={"max_body_bytes": 4096}))) as test_client:
        yield test_client


def assert_openai_error(response, status: int, code: str | None = None, param: str | None = None) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    if code is not None:
        assert error["code"] == code
    assert error["param"] == param
    assert "Traceback" not in response.text
    return error  # type: ignore[no-any-return]


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["stages"] == {"deployment:remote-dead": "unhealthy"}


def test_backend_down_is_503_with_retry_after(client: TestClient) -> None:
    response = client.post("/v1/chat/completions", json=CHAT)
    assert_openai_error(response, 503, "backend_unavailable")
    assert int(response.headers["retry-after"]) > 0


def test_malformed_json(client: TestClient) -> None:
    response = client.post(
        "/v1/chat/completions",
        content=b'{"model": "auto", "messages": [',
        headers={"content-type": "application/json"},
    )
    assert_openai_error(response, 400, "invalid_json")


def test_schema_violation_names_param(client: TestClient) -> None:
    response = client.post("/v1/chat/completions", json={**CHAT, "temperature": 9})
    assert_openai_error(response, 400, "invalid_value", "temperature")


def test_unknown_model(client: TestClient) -> None:
    response = client.post("/v1/chat/completions", json={**CHAT, "model": "gpt-17"})
    assert_openai_error(response, 404, "model_not_found", "model")


def test_body_over_limit_declared(client: TestClient) -> None:
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * 5000}]}
    assert_openai_error(client.post("/v1/chat/completions", json=big), 413, "request_too_large")


def test_body_over_limit_chunked(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"model": "auto", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}]}'

    response = client.post(
        "/v1/chat/completions", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_openai_error(response, 413, "request_too_large")


def test_request_id_echoed_or_generated(client: TestClient) -> None:
    assert client.get("/health", headers={"x-request-id": "abc-123"}).headers["x-request-id"] == "abc-123"
    generated = client.get("/health", headers={"x-request-id": "bad id with spaces"}).headers["x-request-id"]
    assert len(generated) == 32 and " " not in generated


def test_unknown_route_and_method(client: TestClient) -> None:
    assert_openai_error(client.get("/v1/nothing"), 404, "not_found")
    assert_openai_error(client.get("/v1/chat/completions"), 405, "method_not_allowed")


def test_embeddings_disabled_is_model_not_found(client: TestClient) -> None:
    response = client.post("/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": "x"})
    assert_openai_error(response, 404, "model_not_found", "model")


def test_models_lists_deployments_and_auto(client: TestClient) -> None:
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert ids == ["remote-dead", "auto"]


def test_metrics_count_requests_by_route_and_status(client: TestClient) -> None:
    client.post("/v1/chat/completions", json={**CHAT, "model": "nope"})
    text = client.get("/metrics").text
    assert 'inferstack_requests_total{method="POST",route="/v1/chat/completions",status="404"} 1.0' in text
    assert 'inferstack_backend_up{deployment="remote-dead"} 0.0' in text


def test_unhandled_error_is_500_without_details(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(*_: object, **__: object) -> None:
        raise RuntimeError("user said: my card is 4111 1111 1111 1111")

    monkeypatch.setattr(client.app.state.runtime.pipeline, "run", explode)  # type: ignore[attr-defined]
    with caplog.at_level(logging.INFO):
        response = client.post("/v1/chat/completions", json=CHAT)
    error = assert_openai_error(response, 500, "internal_error")
    assert "4111" not in response.text and "4111" not in caplog.text
    assert response.headers["x-request-id"] in error["message"]


def test_auth_required_when_keys_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_TEAM_KEY", "k-123")
    app = create_app(settings(auth={"api_keys": [{"tenant": "team", "key_env": "TEST_TEAM_KEY"}]}))
    with TestClient(app) as authed:
        error = assert_openai_error(authed.get("/v1/models"), 401, "invalid_api_key")
        assert "k-123" not in error["message"]
        assert_openai_error(authed.get("/v1/models", headers={"Authorization": "Bearer wrong"}), 401)
        assert authed.get("/v1/models", headers={"Authorization": "Bearer k-123"}).status_code == 200
        assert authed.get("/health").status_code == 200  # probes stay open


def test_non_loopback_without_keys_refuses() -> None:
    from inferstack.config import ConfigError

    with pytest.raises(ConfigError, match="refusing to bind"):
        create_app(settings(host="0.0.0.0"))


def test_a_bad_prompt_template_stops_start_up(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from inferstack.prompts import PromptError

    bad = tmp_path / "default" / "rag.yaml"
    bad.parent.mkdir()
    bad.write_text("name: rag\ntemplate: |\n  {{ sources }} {{ extra }}\n")
    app = create_app(settings(prompts={"directory": str(tmp_path)}))
    expected = f"^{re.escape(str(bad))}:3: template 'rag': variable 'extra' is not declared"
    with pytest.raises(PromptError, match=expected), TestClient(app):
        pass


@pytest.mark.parametrize(
    ("path", "scope"),
    [
        ("/v1/chat/completions", "chat"), ("/v1/completions", "chat"), ("/v1/route", "chat"),
        ("/v1/embeddings", "embeddings"), ("/v1/collections/docs/documents", "retrieval_write"),
        ("/v1/sessions", "sessions"), ("/v1/sessions/s1/messages", "sessions"), ("/v1/users/u1", "sessions"),
        ("/v1/admin/keys", "admin"), ("/v1/admin/keys/key_1/rotate", "admin"),
    ],
)  # fmt: skip
def test_every_path_needs_its_key_scope(path: str, scope: str) -> None:
    from inferstack.serving.middleware import endpoint_scope

    assert endpoint_scope(path) == scope
