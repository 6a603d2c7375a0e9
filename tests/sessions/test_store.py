"""The session store on a real SQLite file and a real PostgreSQL server (every test runs on
both): migrations, order, tenant isolation, erasure, feedback and retention."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from inferstack.sessions.store import MIGRATIONS, Message, SessionStore, Summary, UnknownSession, UnknownTurn


def turn(turn_id: str, question: str, answer: str, **extra: object) -> list[Message]:
    return [Message("user", question, turn_id), Message("assistant", answer, turn_id, **extra)]  # type: ignore[arg-type]


async def rows(store: SessionStore, table: str) -> int:
    """Rows in a table, read with plain SQL (not through the store's methods)."""
    async with store.engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_the_schema_is_at_the_newest_migration(store: SessionStore) -> None:
    async with store.engine.connect() as conn:
        assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all() == [
            "0002"
        ]
    for table in ("sessions", "messages", "feedback", "summaries"):
        assert await rows(store, table) == 0


async def test_migrations_run_once_and_record_the_head(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 's.db'}"
    for _ in range(2):  # the second open finds the schema current
        store = await SessionStore.open(url)
        await store.close()
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0002",)]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"sessions", "messages", "feedback", "summaries"} <= tables


async def test_history_is_the_latest_messages_oldest_first(store: SessionStore) -> None:
    for i in range(5):
        await store.append("acme", "u1", "s1", turn(f"t{i}", f"q{i}", f"a{i}", route="local"))
    history, summary = await store.history("acme", "s1", 4)
    assert [m.content for m in history] == ["q3", "a3", "q4", "a4"]
    assert [m.role for m in history] == ["user", "assistant"] * 2
    assert [m.turn_id for m in history] == ["t3", "t3", "t4", "t4"] and summary is None
    assert (await store.messages("acme", "s1"))[-1].route == "local"
    assert await store.history("acme", "new-session", 4) == ([], None)
    listed = await store.sessions("acme", None, 10)
    assert [(s["id"], s["user"], s["turns"]) for s in listed] == [("s1", "u1", 5)]


async def test_a_summary_stands_for_the_messages_it_covers(store: SessionStore) -> None:
    for i in range(4):
        await store.append("acme", "u1", "s1", turn(f"t{i}", f"q{i}", f"a{i}"))
    history, _ = await store.history("acme", "s1", 100)
    through = history[3].id  # q0 a0 q1 a1
    assert await store.save_summary("acme", "s1", Summary("user asked q0, q1", 1, through, 6), "summarise-v1")
    after, summary = await store.history("acme", "s1", 100)
    assert summary == Summary("user asked q0, q1", 1, through, 6)
    assert [m.content for m in after] == ["q2", "a2", "q3", "a3"]
    # an older or equal version never replaces a newer one; another tenant cannot write one
    assert not await store.save_summary("acme", "s1", Summary("stale", 1, through, 1), None)
    assert not await store.save_summary("globex", "s1", Summary("x", 5, through, 1), None)
    assert (await store.history("acme", "s1", 100))[1] == summary
    assert await store.history("globex", "s1", 100) == ([], None)
    assert (await store.delete_session("acme", "s1"))["summaries"] == 1
    assert await rows(store, "summaries") == 0


async def test_another_tenant_cannot_read_write_or_erase_a_session(store: SessionStore) -> None:
    await store.append("acme", "u1", "s1", turn("t1", "q", "a"))
    assert await store.owner("s1") == "acme"
    assert await store.history("globex", "s1", 10) == ([], None)
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
    assert await store.delete_session("acme", "s1") == {
        "sessions": 1, "messages": 4, "feedback": 1, "summaries": 0
    }  # fmt: skip
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
    [recent] = (await store.history("acme", "mixed", 10))[0][-1:]
    await store.save_summary("acme", "mixed", Summary("made from the old message", 1, recent.id - 1, 5), None)
    cutoffs = {"acme": time.time() - 5 * 86_400, "keep": old - 1}
    removed = await store.purge(lambda tenant: cutoffs[tenant])
    # "old": nothing left in it; the summary made from a purged message goes with it
    assert removed == {"sessions": 1, "messages": 2, "feedback": 0, "summaries": 1}
    assert [s["id"] for s in await store.sessions("acme", None, 10)] == ["mixed"]
    assert [m.content for m in await store.messages("acme", "mixed")] == ["new q"]
    assert [m.content for m in await store.messages("keep", "other")] == ["q"]


async def test_a_store_made_by_the_first_migration_upgrades_with_its_data(tmp_path: Path) -> None:
    database = tmp_path / "old.db"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = create_engine(f"sqlite:///{database}")
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.exec_driver_sql("INSERT INTO sessions VALUES ('s1', 'acme', NULL, 1.0, 1.0, 1)")
        conn.exec_driver_sql(
            "INSERT INTO messages (session_id, turn_id, role, content, created_at, sources) "
            "VALUES ('s1', 't1', 'user', 'kept across the upgrade', 1.0, '[]')"
        )
    engine.dispose()
    store = await SessionStore.open(f"sqlite+aiosqlite:///{database}")
    try:
        history, summary = await store.history("acme", "s1", 10)
        assert [m.content for m in history] == ["kept across the upgrade"] and summary is None
        assert await rows(store, "summaries") == 0
    finally:
        await store.close()
