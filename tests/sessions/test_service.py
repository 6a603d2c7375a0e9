"""Conversation service logic over a real store: turns on one session are serialised, history is
fitted to a token budget with the running summary and recalled turns, summaries are written
after the answer and waited for only when needed, erasure reaches every store, pseudonym
numbers never reach storage. The summariser and the vector index are in-memory stand-ins here
(their logic is what is tested); the real ones run in tests/e2e/test_sessions.py."""

from __future__ import annotations

import asyncio
import random

import pytest

from inferstack.config.sessions import SessionsConfig
from inferstack.errors import InvalidRequest, NotFound
from inferstack.sessions.memory import fit
from inferstack.sessions.service import ConversationService, check_session_id, unnumbered
from inferstack.sessions.store import Message, Recalled, SessionStore


def words(text: str) -> int:
    return len(text.split())


@pytest.fixture
def service(store: SessionStore) -> ConversationService:
    return ConversationService(store, SessionsConfig(max_history_messages=500), words)


async def test_concurrent_turns_on_one_session_are_all_kept_in_order(service: ConversationService) -> None:
    """20 turns at once: each reads the history the previous one stored, none is lost, and a
    turn's user message and answer stay next to each other."""
    rng = random.Random(7)
    seen: list[int] = []

    async def one(i: int) -> None:
        turn = await service.begin("acme", "u1", "busy")
        seen.append(len(turn.history))
        await asyncio.sleep(rng.random() / 100)  # generation
        await service.persist(
            turn, [Message("user", f"q{i}", turn.turn_id), Message("assistant", f"a{i}", turn.turn_id)]
        )

    await asyncio.gather(*(one(i) for i in range(20)))
    messages = await service.messages("acme", "busy")
    assert len(messages) == 40
    assert sorted(seen) == list(range(0, 40, 2))  # each turn saw every earlier one
    for question, answer in zip(messages[::2], messages[1::2], strict=True):
        assert question.turn_id == answer.turn_id and question.content[1:] == answer.content[1:]


async def test_a_failed_turn_lets_the_next_one_in(service: ConversationService, store: SessionStore) -> None:
    turn = await service.begin("acme", None, "s1")
    turn.release()  # what the call's closer does when the request fails
    turn.release()  # idempotent
    again = await asyncio.wait_for(service.begin("acme", None, "s1"), 1)
    await service.persist(again, [Message("user", "q", again.turn_id)])
    assert await store.owner("s1") == "acme"


async def test_another_tenants_session_is_not_found(service: ConversationService) -> None:
    turn = await service.begin("acme", None, "s1")
    await service.persist(turn, [Message("user", "q", turn.turn_id)])
    with pytest.raises(NotFound) as info:
        await service.begin("globex", None, "s1")
    assert info.value.param == "session_id" and "s1" not in info.value.message
    for attempt in (service.messages("globex", "s1"), service.delete_session("globex", "s1")):
        with pytest.raises(NotFound):
            await attempt
    with pytest.raises(NotFound) as turn_info:
        await service.feedback("acme", "s1", "0" * 32, 1, None)
    assert turn_info.value.param == "turn_id"
    # the lock was released after the refusal: acme's next turn is not stuck
    await asyncio.wait_for(service.begin("acme", None, "s1"), 1)


async def test_deleting_a_user_erases_each_of_their_sessions(service: ConversationService) -> None:
    for session_id in ("a", "b"):
        turn = await service.begin("acme", "u1", session_id)
        await service.persist(
            turn, [Message("user", "q", turn.turn_id), Message("assistant", "a", turn.turn_id)]
        )
    turn = await service.begin("acme", "u2", "c")
    await service.persist(turn, [Message("user", "q", turn.turn_id)])
    assert await service.delete_user("acme", "u1") == {
        "sessions": 2, "messages": 4, "feedback": 0, "summaries": 0, "memory_vectors": 0
    }  # fmt: skip
    assert [s["id"] for s in await service.sessions("acme", None, 10)] == ["c"]


def test_fit_keeps_the_newest_messages_that_fit() -> None:
    history = [
        Recalled("user", "one two three", None, 1, "t1"),
        Recalled("assistant", "four five", None, 2, "t1"),
        Recalled("user", "six", None, 3, "t2"),
    ]
    # each message costs its words + 4 (role markers)
    assert fit(history, 100, words) == 3
    assert fit(history, 5 + 6, words) == 2
    assert fit(history, 5, words) == 1
    assert fit(history, 4, words) == 0
    # a stored count wins over counting again
    assert fit([Recalled("assistant", "four five", 50, 1, "t1")], 20, words) == 0


def test_pseudonym_numbers_are_dropped_before_storage() -> None:
    assert unnumbered("mail <EMAIL_ADDRESS_2> or ask <PERSON_1>") == "mail <EMAIL_ADDRESS> or ask <PERSON>"
    assert unnumbered("no placeholders <b>") == "no placeholders <b>"


@pytest.mark.parametrize("bad", ["", "has space", "-leading", "x" * 129, "ünïcode", "a/b"])
def test_malformed_session_ids_name_the_param(bad: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        check_session_id(bad, "x-session-id")
    assert info.value.param == "x-session-id"


def test_good_session_ids_pass() -> None:
    for good in ("s1", "chat:2026-12-06", "A.b_c-d", "x" * 128):
        assert check_session_id(good, "session_id") == good
