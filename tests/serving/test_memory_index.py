"""Long-term conversation memory on a real Milvus Lite file with the real MiniLM encoder: a fact
stated in one turn is recalled by a later question in other words, recall stays inside the
tenant, the session and its user, and erasure and retention delete the vectors (counted by
reading the collection directly)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from inferstack.models.embeddings import Embedder
from inferstack.retrieval.store import MilvusStore
from inferstack.serving.memory_index import COLLECTION, MilvusMemory
from inferstack.sessions.memory import PastTurn

TURNS = [
    ("t1", "I live in Lisbon and work at a bakery near the river.", "Nice, Lisbon is a lovely city."),
    ("t2", "Please convert 30 degrees Celsius to Fahrenheit.", "30 °C is 86 °F."),
    ("t3", "What is a good name for a grey cat?", "How about Smokey or Ash?"),
    ("t4", "Write a haiku about autumn leaves.", "Red leaves drift and fall..."),
]


@pytest.fixture
def memory(embedder: Embedder, tmp_path: Path) -> Iterator[MilvusMemory]:
    store = MilvusStore(str(tmp_path / "memory.db"), embedder.dimensions)
    yield MilvusMemory(store, embedder)
    store.close()


def turn(turn_id: str, question: str, answer: str) -> PastTurn:
    return PastTurn(turn_id, question, answer, 0.0)


async def count(memory: MilvusMemory, expr: str) -> int:
    return await memory.store.run(lambda: memory.count(expr))


async def test_a_fact_is_recalled_by_a_question_in_other_words(memory: MilvusMemory) -> None:
    for turn_id, question, answer in TURNS:
        await memory.add("acme", "s1", "u1", turn(turn_id, question, answer))
    found = await memory.recall("acme", "s1", "u1", "Which city am I living in?", 3)
    assert found[0].turn_id == "t1" and found[0].question.startswith("I live in Lisbon")
    assert found[0].score > found[1].score and 0 < found[0].score <= 1


async def test_recall_stays_in_the_tenant_the_session_and_its_user(memory: MilvusMemory) -> None:
    await memory.add("acme", "s1", "u1", turn(*TURNS[0]))
    await memory.add("acme", "s2", "u1", turn("t5", "My sister lives in Porto.", "Porto is close to Lisbon."))
    await memory.add("acme", "s3", "u2", turn("t6", "I moved to Lisbon last year.", "Welcome!"))
    await memory.add("globex", "s1", "u1", turn("t7", "I live in Lisbon too.", "Great."))
    query = "Which city do I live in?"
    # the session's own turns, and those of its user's other sessions: never another user or tenant
    assert {p.turn_id for p in await memory.recall("acme", "s1", "u1", query, 10)} == {"t1", "t5"}
    assert {p.turn_id for p in await memory.recall("acme", "s1", None, query, 10)} == {"t1"}
    assert await memory.recall("initech", "s1", "u1", query, 10) == []


async def test_erasure_and_retention_remove_the_vectors(memory: MilvusMemory) -> None:
    for turn_id, question, answer in TURNS:
        await memory.add("acme", "s1", "u1", turn(turn_id, question, answer))
    await memory.add("acme", "s2", "u1", turn("t5", "Keep this one.", "Kept."))
    await memory.add("globex", "s1", None, turn("t6", "Another tenant's session s1.", "Untouched."))
    assert await memory.erase_session("acme", "s1") == 4
    assert await count(memory, 'session_id == "s1" and tenant == "acme"') == 0
    assert await count(memory, 'turn_id != ""') == 2
    assert await memory.recall("acme", "s1", None, "Lisbon", 10) == []
    # retention: every turn is older than a cutoff in the future, for the named tenant only
    future = time.time() + 60
    assert await memory.purge(lambda tenant: future if tenant == "globex" else 0.0, ["globex"]) == 1
    assert await count(memory, 'turn_id != ""') == 1
    assert await memory.purge(lambda tenant: future, []) == 1
    assert await count(memory, 'turn_id != ""') == 0
    assert COLLECTION.startswith("_")  # a name the collection API refuses, so no one can ingest into it
