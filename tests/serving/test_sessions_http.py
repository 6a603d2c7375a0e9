"""The session endpoints over HTTP, on a real SQLite store, with two tenants' keys: isolation,
export in both formats, erasure (checked in the database file), feedback and bad input. The
one deployment is down: everything here is answered before a backend would be called. The
same flow with real generation is in tests/e2e/test_sessions.py."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from inferstack.serving.app import create_app
from inferstack.serving.schemas import FeedbackOut, SessionDeleted, SessionList, SessionMessages, UserDeleted
from inferstack.sessions.store import Message, SessionStore
from tests.serving.test_app_http import assert_openai_error, settings

KEYS = {"acme": "k-acme", "globex": "k-globex"}
TURN = "a" * 32


def auth(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[tenant]}"}


async def seed(url: str) -> None:
    store = await SessionStore.open(url)
    try:
        await store.append("acme", "u1", "s1", [
            Message("user", "my mail is <EMAIL_ADDRESS>", TURN),
            Message("assistant", "noted", TURN, route="smollm2-135m", intent="chitchat"),
        ])  # fmt: skip
        await store.append("acme", "u2", "s2", [Message("user", "hello", "b" * 32)])
    finally:
        await store.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "sessions.db"
    asyncio.run(seed(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture
def client(db: Path) -> Iterator[TestClient]:
    app = create_app(
        settings(
            auth={"api_keys": [{"tenant": t, "key": k} for t, k in KEYS.items()]},
            sessions={"database_url": f"sqlite+aiosqlite:///{db}"},
        )
    )
    with TestClient(app) as test_client:
        yield test_client


def count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(sql).fetchone()[0])


def test_list_and_export_are_the_callers_tenant_only(client: TestClient) -> None:
    listed = SessionList.model_validate(client.get("/v1/sessions", headers=auth("acme")).json())
    assert sorted(s.id for s in listed.data) == ["s1", "s2"]
    one_user = client.get("/v1/sessions", params={"user": "u1"}, headers=auth("acme")).json()
    assert [s["id"] for s in one_user["data"]] == ["s1"]
    assert client.get("/v1/sessions", headers=auth("globex")).json()["data"] == []
    assert_openai_error(client.get("/v1/sessions/s1/messages", headers=auth("globex")), 404,
                        "session_not_found", "session_id")  # fmt: skip
    exported = SessionMessages.model_validate(
        client.get("/v1/sessions/s1/messages", headers=auth("acme")).json()
    )
    assert [(m.role, m.content) for m in exported.data] == [
        ("user", "my mail is <EMAIL_ADDRESS>"), ("assistant", "noted"),
    ]  # fmt: skip
    assert exported.data[1].route == "smollm2-135m" and exported.data[1].turn_id == TURN
    lines = client.get("/v1/sessions/s1/messages", params={"format": "jsonl"}, headers=auth("acme"))
    assert lines.headers["content-type"].startswith("application/x-ndjson")
    assert [orjson.loads(line) for line in lines.text.splitlines()] == exported.model_dump()["data"]


def test_another_tenant_cannot_chat_in_erase_or_rate_a_session(client: TestClient, db: Path) -> None:
    chat = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    assert_openai_error(client.post("/v1/chat/completions", json=chat, headers={**auth("globex"),
                        "x-session-id": "s1"}), 404, "session_not_found", "session_id")  # fmt: skip
    assert_openai_error(client.delete("/v1/sessions/s1", headers=auth("globex")), 404, "session_not_found",
                        "session_id")  # fmt: skip
    rating = {"turn_id": TURN, "rating": 1}
    assert_openai_error(client.post("/v1/sessions/s1/feedback", json=rating, headers=auth("globex")), 404,
                        "session_not_found", "session_id")  # fmt: skip
    assert client.delete("/v1/users/u1", headers=auth("globex")).json()["removed"]["sessions"] == 0
    assert count(db, "SELECT count(*) FROM messages") == 3 and count(db, "SELECT count(*) FROM feedback") == 0


def test_feedback_then_erasure_leaves_nothing_in_the_database(client: TestClient, db: Path) -> None:
    rated = client.post("/v1/sessions/s1/feedback", json={"turn_id": TURN, "rating": -1, "comment": "wrong"},
                        headers=auth("acme"))  # fmt: skip
    assert FeedbackOut.model_validate(rated.json()).rating == -1
    deleted = SessionDeleted.model_validate(client.delete("/v1/sessions/s1", headers=auth("acme")).json())
    assert deleted.removed.model_dump() == {
        "sessions": 1, "messages": 2, "feedback": 1, "summaries": 0, "memory_vectors": 0
    }  # fmt: skip
    assert_openai_error(client.get("/v1/sessions/s1/messages", headers=auth("acme")), 404,
                        "session_not_found", "session_id")  # fmt: skip
    gone = UserDeleted.model_validate(client.delete("/v1/users/u2", headers=auth("acme")).json())
    assert gone.removed.model_dump() == {
        "sessions": 1, "messages": 1, "feedback": 0, "summaries": 0, "memory_vectors": 0
    }  # fmt: skip
    for table in ("sessions", "messages", "feedback"):
        assert count(db, f"SELECT count(*) FROM {table}") == 0, table


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "param"),
    [
        ("POST", "/v1/sessions/s1/feedback", {"turn_id": TURN, "rating": 7}, {}, 400, "rating"),
        ("POST", "/v1/sessions/s1/feedback", {"turn_id": "not-hex", "rating": 1}, {}, 400, "turn_id"),
        ("POST", "/v1/sessions/s1/feedback", {"turn_id": "c" * 32, "rating": 1}, {}, 404, "turn_id"),
        ("POST", "/v1/sessions/bad%20id/feedback", {"turn_id": TURN, "rating": 1}, {}, 400, "session_id"),
        ("GET", "/v1/sessions/s1/messages?format=xml", None, {}, 400, "format"),
        ("GET", "/v1/sessions?limit=0", None, {}, 400, "limit"),
        ("GET", "/v1/sessions?limit=ten", None, {}, 400, "limit"),
        ("GET", "/v1/sessions/nope/messages", None, {}, 404, "session_id"),
        ("POST", "/v1/chat/completions", {"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
         {"x-session-id": "has space"}, 400, "x-session-id"),
        ("POST", "/v1/chat/completions", {"model": "auto", "messages": [{"role": "user", "content": "hi"}],
         "inferstack": {"session_id": "-x"}}, {}, 400, "inferstack.session_id"),
        ("POST", "/v1/completions", {"model": "auto", "prompt": "hi", "inferstack": {"session_id": "s1"}}, {},
         400, "inferstack.session_id"),
    ],
)  # fmt: skip
def test_bad_input_is_a_clear_error_and_changes_nothing(
    client: TestClient, db: Path, method: str, path: str, body: object, headers: dict[str, str],
    status: int, param: str,
) -> None:  # fmt: skip
    response = client.request(method, path, json=body, headers={**auth("acme"), **headers})
    assert_openai_error(response, status, param=param)
    assert count(db, "SELECT count(*) FROM messages") == 3 and count(db, "SELECT count(*) FROM feedback") == 0


def test_sessions_disabled_is_503() -> None:
    with TestClient(create_app(settings())) as client:
        assert_openai_error(client.get("/v1/sessions"), 503, "stage_disabled")
