"""The API pages: /docs (offline assets) and /openapi.json listing every route the app serves
with its request and response models, the `inferstack` extension object included."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from inferstack.serving.app import create_app
from inferstack.serving.openapi import CONTRACT
from inferstack.serving.schemas import Health, ModelList, Readiness
from tests.serving.test_app_http import settings

# ARCHITECTURE §3, the endpoints that exist today.
ARCHITECTURE_PATHS = {
    ("GET", "/v1/models"), ("POST", "/v1/chat/completions"), ("POST", "/v1/completions"),
    ("POST", "/v1/embeddings"), ("GET", "/health"), ("GET", "/ready"), ("GET", "/metrics"),
    ("POST", "/v1/guard/scan"), ("POST", "/v1/classify"), ("POST", "/v1/collections/{name}/documents"),
    ("DELETE", "/v1/collections/{name}/documents/{document_id}"), ("POST", "/v1/retrieve"),
    ("POST", "/v1/route"),
}  # fmt: skip
PAGES = {"/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect", "/", "/admin"}


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(settings())) as test_client:
        yield test_client


def test_docs_page_is_served_without_a_cdn(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert "cdn." not in page.text and "jsdelivr" not in page.text
    script = re.search(r"src=['\"]([^'\"]+swagger-ui-bundle\.js)", page.text)
    assert script is not None and client.get(script.group(1)).status_code == 200


def test_openapi_lists_every_route_with_its_models(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    listed = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert listed >= ARCHITECTURE_PATHS
    served = set()
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Route) and not isinstance(route, Mount) and route.path not in PAGES:
            served |= {(m, route.path.replace(":path}", "}")) for m in route.methods or () if m != "HEAD"}
    assert served == listed == {(e.method, e.path) for e in CONTRACT}
    chat = document["paths"]["/v1/chat/completions"]["post"]
    assert chat["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ChatCompletionRequest"
    )
    ok = chat["responses"]["200"]["content"]
    assert set(ok) == {"application/json", "text/event-stream"}
    schemas = document["components"]["schemas"]
    assert set(schemas["InferstackExtension"]["properties"]) == {
        "route", "sources", "retrieval", "guard", "intent", "memory", "timings_ms",
    }  # fmt: skip
    assert chat["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorResponse"
    )


def test_operations_answers_match_their_models(client: TestClient) -> None:
    ModelList.model_validate(client.get("/v1/models").json())
    Health.model_validate(client.get("/health").json())
    Readiness.model_validate(client.get("/ready").json())


def test_a_config_switch_turns_the_pages_off() -> None:
    with TestClient(create_app(settings(api_docs=False))) as quiet:
        assert quiet.get("/docs").status_code == 404
        assert quiet.get("/openapi.json").status_code == 404
