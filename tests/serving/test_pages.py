"""The chat and operator pages: served from the package with a strict CSP, no CDN; the operator
JSON behind the admin scope when auth is on."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from inferstack.serving.app import create_app
from inferstack.serving.pages import STATIC
from inferstack.serving.schemas import OperatorStats
from tests.serving.test_app_http import settings

SVG_NAMESPACE = "http://www.w3.org/2000/svg"


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(settings())) as test_client:
        yield test_client


@pytest.mark.parametrize(("path", "script"), [("/", "/ui/chat.js"), ("/admin", "/ui/admin.js")])
def test_pages_and_their_assets_are_served_from_the_package(
    client: TestClient, path: str, script: str
) -> None:
    page = client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy and "unsafe" not in policy
    assets = re.findall(r'(?:src|href)="(/ui/[^"]+)"', page.text)
    assert script in assets and "/ui/style.css" in assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_assets_load_nothing_from_elsewhere_and_never_parse_html() -> None:
    for path in STATIC.iterdir():
        text = path.read_text().replace(SVG_NAMESPACE, "")
        assert not re.search(r"https?://", text.replace("https?:\\/\\/", "")), path.name
        if path.suffix == ".js":  # model and document text only ever become text nodes
            assert "innerHTML" not in text and "insertAdjacentHTML" not in text and "eval(" not in text


def test_pages_can_be_switched_off() -> None:
    with TestClient(create_app(settings(web_pages=False))) as quiet:
        assert quiet.get("/").status_code == 404 and quiet.get("/admin").status_code == 404


def test_models_say_what_they_serve(client: TestClient) -> None:
    entries = {m["id"]: m["endpoint"] for m in client.get("/v1/models").json()["data"]}
    assert entries == {"remote-dead": "chat", "auto": "chat"}  # embeddings are off in these settings


def test_operator_stats_need_the_admin_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_TEAM_KEY", "k-team")
    monkeypatch.setenv("TEST_ADMIN_KEY", "k-admin")
    keys = [
        {"tenant": "team", "key_env": "TEST_TEAM_KEY"},
        {"tenant": "ops", "key_env": "TEST_ADMIN_KEY", "admin": True},
    ]
    with TestClient(create_app(settings(auth={"api_keys": keys}))) as authed:
        assert authed.get("/admin").status_code == 200  # the page itself; it asks for the key
        assert authed.get("/v1/admin/stats").status_code == 401
        assert authed.get("/v1/admin/stats", headers={"Authorization": "Bearer k-team"}).status_code == 403
        answer = authed.get("/v1/admin/stats", headers={"Authorization": "Bearer k-admin"})
        assert answer.status_code == 200
        stats = OperatorStats.model_validate(answer.json())
        assert [b["deployment"] for b in stats.backends] == ["remote-dead"]
        assert stats.backends[0]["replicas"][0]["healthy"] is False
        assert "k-admin" not in answer.text and "k-team" not in answer.text
