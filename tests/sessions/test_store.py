"""The session store on a real SQLite file and a real PostgreSQL server (every test runs on
both): migrations, order, tenant isolation, erasure, feedback and retention."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from inferstack.sessions.store import Message, SessionStore, UnknownSession, UnknownTurn


def turn(turn_id: str, question: str, answer: str, **extra: object) -> list[Message]:
    return [Message("user", question, turn_id), Message("assistant", answer, turn_id, **extra)]  # type: ignore[arg-type]


async def rows(store: SessionStore, table: str) -> int:
    """Rows in a table, read with plain SQL (not through the store's methods)."""
    async with store.engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_the_schema_is_at_the_newest_migration(store: SessionStore) -> None:
    async with store.engine.connect() as conn:
        assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all() == [
            "0001"
        ]
    for table in ("sessions", "messages", "feedback"):
        assert await rows(store, table) == 0


async def test_migrations_run_once_and_record_the_head(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 's.db'}"
    for _ in range(2):  # the second open finds the schema current
        store = await SessionStore.open(url)
        await store.close()
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"sessions", "messages", "feedback"} <= tables


async def test_history_is_the_latest_messages_oldest_first(store: SessionStore) -> None:
    for i in range(5):
        await store.append("acme", "u1", "s1", turn(f"t{i}", f"q{i}", f"a{i}", route="local"))
    history = await store.history("acme", "s1", 4)
    assert [m.content for m in history] == ["q3", "a3", "q4", "a4"]
    assert [m.role for m in history] == ["user", "assistant"] * 2
    assert (await store.messages("acme", "s1"))[-1].route == "local"
    assert await store.history("acme", "new-session", 4) == []
    listed = await store.sessions("acme", None, 10)
    assert [(s["id"], s["user"], s["turns"]) for s in listed] == [("s1", "u1", 5)]


async def test_another_tenant_cannot_read_write_or_erase_a_session(store: SessionStore) -> None:
    await store.append("acme", "u1", "s1", turn("t1", "q", "a"))
    assert await store.owner("s1") == "acme"
    assert await store.history("globex", "s1", 10) == []
    assert await store.sessions("globex", None, 10) == []
    for attempt in (
        store.messages("globex", "s1"),
        store.delete_session("globex", "s1"),
        store.append("globex", None, "s1", turn("t2", "q", "a")),
        store.add_feedback("globex", "s1", "t1", 1, None),
    ):
        with pytest.raises(UnknownSession):
            await attempt
    assert [m.content for m in await store.messages("acme", "s1")] == ["q", "a"]


async def test_erasure_removes_every_row_and_says_how_many(store: SessionStore) -> None:
    await store.append("acme", "u1", "s1", turn("t1", "q", "a"))
    await store.append("acme", "u1", "s1", turn("t2", "q", "a"))
    await store.append("acme", "u2", "s2", turn("t3", "q", "a"))
    await store.add_feedback("acme", "s1", "t1", 1, "good")
    assert await store.delete_session("acme", "s1") == {"sessions": 1, "messages": 4, "feedback": 1}
    assert await store.user_sessions("acme", "u2") == ["s2"]
    assert (await rows(store, "sessions"), await rows(store, "messages"), await rows(store, "feedback")) == (
        1,
        2,
        0,
    )
    with pytest.raises(UnknownSession):
        await store.messages("acme", "s1")


async def test_feedback_needs_a_turn_of_that_session(store: SessionStore) -> None:
    await store.append("acme", "u1", "s1", turn("t1", "how do I install it?", "pip install", intent="howto"))
    with pytest.raises(UnknownTurn):
        await store.add_feedback("acme", "s1", "nope", 1, None)
    await store.add_feedback("acme", "s1", "t1", -1, "wrong")
    [row] = await store.feedback("acme")
    assert row["rating"] == -1 and row["comment"] == "wrong" and row["intent"] == "howto"
    assert row["messages"] == [
        {"role": "user", "content": "how do I install it?"},
        {"role": "assistant", "content": "pip install"},
    ]
    assert await store.feedback("globex") == []


async def test_retention_drops_old_messages_then_empty_sessions(store: SessionStore) -> None:
    old = time.time() - 10 * 86_400
    await store.append("acme", None, "old", [Message("user", "q", "t1", created_at=old)])
    await store.append("acme", None, "mixed", [Message("user", "old q", "t2", created_at=old)])
    await store.append("acme", None, "mixed", [Message("user", "new q", "t3")])
    await store.append("keep", None, "other", [Message("user", "q", "t4", created_at=old)])
    cutoffs = {"acme": time.time() - 5 * 86_400, "keep": old - 1}
    removed = await store.purge(lambda tenant: cutoffs[tenant])
    assert removed == {"sessions": 1, "messages": 2, "feedback": 0}  # "old": nothing left in it
    assert [s["id"] for s in await store.sessions("acme", None, 10)] == ["mixed"]
    assert [m.content for m in await store.messages("acme", "mixed")] == ["new q"]
    assert [m.content for m in await store.messages("keep", "other")] == ["q"]
