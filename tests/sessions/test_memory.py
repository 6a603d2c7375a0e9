"""What a turn carries (sessions.memory.plan) and the service's background memory work: the
running summary written after a stored turn, waited for only when a turn needs it, recalled
past turns, erasure of every store. The summariser and the index are small in-memory stand-ins
(the logic under test is the service's); the LLM and Milvus ones run in tests/e2e."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from inferstack.config.sessions import SessionsConfig
from inferstack.sessions.memory import PastTurn, plan
from inferstack.sessions.service import ConversationService
from inferstack.sessions.store import Message, Recalled, SessionStore, Summary


def words(text: str) -> int:
    return len(text.split())


class ListSummariser:
    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.gate = gate

    async def summarise(self, tenant: str, previous: str, messages: Sequence[Recalled]) -> tuple[str, str]:
        self.calls.append((previous, [m.content for m in messages]))
        if self.gate is not None:
            await self.gate.wait()
        return f"summary {len(self.calls)}", "summarise-v1"


class DictMemory:
    def __init__(self, fail: bool = False, delay_s: float = 0.0) -> None:
        self.turns: dict[str, tuple[str, str, str | None, PastTurn]] = {}
        self.fail = fail
        self.delay_s = delay_s

    async def add(self, tenant: str, session_id: str, user: str | None, turn: PastTurn) -> None:
        await asyncio.sleep(0.01)  # an index write takes a moment
        self.turns[turn.turn_id] = (tenant, session_id, user, turn)

    async def recall(
        self, tenant: str, session_id: str, user: str | None, query: str, limit: int
    ) -> list[PastTurn]:
        if self.fail:
            raise ConnectionError("index down")
        await asyncio.sleep(self.delay_s)
        asked = set(query.split())
        found = [
            t._replace(score=len(asked & set(t.question.split())) / len(asked))
            for tn, sid, _, t in self.turns.values()
            if tn == tenant and sid == session_id
        ]
        return sorted(found, key=lambda t: -t.score)[:limit]

    async def erase_session(self, tenant: str, session_id: str) -> int:
        gone = [k for k, (tn, sid, *_) in self.turns.items() if (tn, sid) == (tenant, session_id)]
        for key in gone:
            del self.turns[key]
        return len(gone)

    async def purge(self, cutoff_for: Callable[[str | None], float], tenants: Sequence[str]) -> int:
        return 0


async def chat(
    service: ConversationService, session: str, question: str, budget: int = 1000
) -> dict[str, object]:
    turn = await service.begin("acme", "u1", session, question)
    window = await service.window(turn, budget)
    await service.persist(
        turn, [Message("user", question, turn.turn_id), Message("assistant", f"ok {question}", turn.turn_id)]
    )
    return {
        "kept": [m.content for m in window.messages],
        "summary": window.summary,
        "recalled": [p.question for p in window.recalled],
        "uncovered": window.uncovered,
        "recall": turn.recall_status,
    }


def test_plan_spends_the_budget_on_summary_recall_then_latest_messages() -> None:
    history = [Recalled("user" if i % 2 == 0 else "assistant", f"m{i} x x", None, i + 1, f"t{i // 2}")
               for i in range(6)]  # fmt: skip
    # each message: 3 words + 4 overhead = 7
    assert len(plan(history, None, [], 28, words, 0).messages) == 4
    summary = Summary("five words of old turns", 1, 0, 5)
    window = plan(history, summary, [], 28, words, 0)
    assert len(window.messages) == 2 and window.uncovered == 4  # summary costs 5 + 4
    old = PastTurn("t0", "q x", "a x", 0.9)  # not carried: recalled, costs 2 + 2 + 8 = 12
    carried = PastTurn("t2", "q y", "a y", 0.8)  # the window carries t2 already
    window = plan(history, None, [carried, old], 34, words, 12)
    assert [p.turn_id for p in window.recalled] == ["t0"]
    assert len(window.messages) == 3  # (34 - 12) // 7
    assert plan(history, None, [old], 34, words, 11).recalled == []  # over the recall budget
    assert plan(history, None, [old], 40, words, 12).recalled == []  # 5 messages fit: t0 is carried


async def test_overflowing_turns_are_summarised_after_the_answer(store: SessionStore) -> None:
    summariser = ListSummariser()
    service = ConversationService(store, SessionsConfig(), words, summariser)
    # 19 tokens: two messages of 2 and 3 words (+4 each), not three
    seen = [await chat(service, "s1", f"question {i}", budget=19) for i in range(4)]
    assert seen[0]["kept"] == [] and seen[1]["kept"] == ["question 0", "ok question 0"]
    assert seen[2]["uncovered"] == 2 and seen[2]["summary"] is None  # no summary yet: older ones drop
    await service.settled("s1")
    # turn 2 dropped 2 messages; the update covered them and one turn more
    assert summariser.calls == [("", ["question 0", "ok question 0", "question 1", "ok question 1"])]
    fourth = seen[3]
    assert fourth["summary"] is not None and fourth["summary"].version == 1
    assert fourth["kept"][-2:] == ["question 2", "ok question 2"]
    await service.settled("s1")
    turn = await service.begin("acme", "u1", "s1")
    assert turn.summary is not None and turn.summary.version >= 1
    turn.release()


async def test_a_turn_waits_for_a_summary_it_needs_and_only_for_that(store: SessionStore) -> None:
    gate = asyncio.Event()
    service = ConversationService(store, SessionsConfig(summary_wait_s=5), words, ListSummariser(gate))
    for i in range(3):
        await chat(service, "s1", f"question {i}", budget=19)  # turn 2 starts a summary
    waiting = asyncio.ensure_future(chat(service, "s1", "question 3", budget=19))
    await asyncio.sleep(0.1)
    assert not waiting.done()  # it needs the summary being written
    # another session is not held up meanwhile
    assert (await asyncio.wait_for(chat(service, "s2", "hello there", budget=19), 1))["kept"] == []
    gate.set()
    result = await asyncio.wait_for(waiting, 2)
    assert result["summary"] is not None and result["summary"].version == 1


async def test_a_summary_not_ready_in_time_is_not_waited_for(store: SessionStore) -> None:
    blocked = ListSummariser(asyncio.Event())
    service = ConversationService(store, SessionsConfig(summary_wait_s=0.05), words, blocked)
    for i in range(3):
        await chat(service, "s1", f"question {i}", budget=19)
    result = await asyncio.wait_for(chat(service, "s1", "question 3", budget=19), 1)
    assert result["summary"] is None and result["uncovered"] == 4
    assert len(blocked.calls) == 1  # the turn that gave up waiting did not start a second update
    await service.aclose()  # cancels the summary still waiting


async def test_past_turns_are_recalled_and_erased_with_the_session(store: SessionStore) -> None:
    memory = DictMemory()
    service = ConversationService(store, SessionsConfig(recall_min_score=0.6), words, None, memory)
    await chat(service, "s1", "my city is Lisbon")
    for i in range(4):
        await chat(service, "s1", f"filler {i}")
    await service.settled("s1")
    # the fillers score 0 (under recall_min_score); the first turn is recalled, not carried
    result = await chat(service, "s1", "my city is", budget=30)
    assert result["recalled"] == ["my city is Lisbon"] and result["recall"] == "ok"
    assert result["kept"] == ["filler 3", "ok filler 3"]
    await chat(service, "s1", "one more")  # its index write may still be running: erasure waits
    removed = await service.delete_session("acme", "s1")
    assert removed["memory_vectors"] == 7 and removed["messages"] == 14
    assert memory.turns == {}


async def test_a_failed_recall_leaves_the_turn_without_long_term_memory(store: SessionStore) -> None:
    service = ConversationService(store, SessionsConfig(), words, None, DictMemory(fail=True))
    await chat(service, "s1", "my city is Lisbon")
    result = await chat(service, "s1", "my city is")
    assert result["recalled"] == [] and result["kept"] == ["my city is Lisbon", "ok my city is Lisbon"]
    assert result["recall"] == "failed"


async def test_a_slow_recall_is_cut_at_its_timeout_and_said_so(store: SessionStore) -> None:
    memory = DictMemory(delay_s=0.5)
    service = ConversationService(store, SessionsConfig(recall_timeout_s=0.05), words, None, memory)
    await chat(service, "s1", "my city is Lisbon")
    result = await chat(service, "s1", "my city is")
    assert (result["recalled"], result["recall"]) == ([], "timed_out")
    memory.delay_s = 0.0
    assert (await chat(service, "s1", "my city is"))["recall"] == "ok"


@pytest.mark.parametrize("summaries", [False, True])
async def test_switched_off_parts_are_not_used(store: SessionStore, summaries: bool) -> None:
    summariser, memory = ListSummariser(), DictMemory()
    config = SessionsConfig(summaries=summaries, long_term_memory=False)
    service = ConversationService(store, config, words, summariser, memory)
    for i in range(4):
        await chat(service, "s1", f"question {i}", budget=19)
    await service.settled("s1")
    assert bool(summariser.calls) is summaries and memory.turns == {}
