"""Conversations as the pipeline and the session endpoints use them: a turn holds its session's
lock from loading the history until its messages are stored, so concurrent turns on one session
run one after another (none lost, none interleaved); the history a turn carries is the latest
messages that fit the token budget; a purge task enforces each tenant's retention."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from inferstack.config.sessions import SessionsConfig
from inferstack.errors import InvalidRequest, NotFound
from inferstack.sessions.store import Message, Recalled, SessionStore, UnknownSession, UnknownTurn
from inferstack.text import PLACEHOLDER

log = logging.getLogger(__name__)
SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
MESSAGE_OVERHEAD_TOKENS = 4  # role markers a chat template adds around each message
DAY_S = 86_400.0
# Text -> its token count (the deployment's tokenizer, or an estimate).
TokenCounter = Callable[[str], int]


def unnumbered(text: str) -> str:
    """`<PERSON_1>` -> `<PERSON>`: a pseudonym's number is only meaningful inside the request
    that made it, so stored text keeps the type and drops the number (a later request's
    `<PERSON_1>` is someone else, and must not be restored from an old turn)."""
    return PLACEHOLDER.sub(lambda m: f"<{m.group(1)}>", text)


def check_session_id(value: str, param: str) -> str:
    if not SESSION_ID.match(value):
        raise InvalidRequest(
            "a session id is 1-128 characters: letters, digits and . _ : - (starting with a letter or digit)",
            param=param,
        )
    return value


def fit(history: Sequence[Recalled], budget: int, count: TokenCounter) -> int:
    """How many of the latest messages fit in `budget` tokens (whole messages, newest first).
    A message's stored token count is used when it has one."""
    used = kept = 0
    for message in reversed(history):
        tokens = message.tokens if message.tokens is not None else count(message.content)
        used += tokens + MESSAGE_OVERHEAD_TOKENS
        if used > budget:
            break
        kept += 1
    return kept


@dataclass(eq=False)
class Turn:
    """One request's turn on a session: its lock is held from `begin` until `release`."""

    session_id: str
    tenant: str
    user: str | None
    history: list[Recalled]
    lock: asyncio.Lock
    turn_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: float = field(default_factory=time.time)
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.lock.release()


class ConversationService:
    def __init__(self, store: SessionStore, config: SessionsConfig, count: TokenCounter) -> None:
        self.store = store
        self.config = config
        self.count = count
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._purger: asyncio.Task[None] | None = None

    def _lock(self, session_id: str) -> asyncio.Lock:
        lock = self._locks.get(session_id)
        if lock is None:
            lock = self._locks[session_id] = asyncio.Lock()
        return lock

    async def begin(self, tenant: str, user: str | None, session_id: str) -> Turn:
        """Wait for the session's earlier turns, then load its history. NotFound when the
        session belongs to another tenant."""
        lock = self._lock(session_id)
        await lock.acquire()
        try:
            history = await self.store.history(tenant, session_id, self.config.max_history_messages)
            # No history: a new session, or another tenant's (the history query is per tenant).
            if not history and await self.store.owner(session_id) not in (None, tenant):
                raise _not_found()
        except BaseException:
            lock.release()
            raise
        return Turn(session_id, tenant, user, history, lock)

    async def persist(self, turn: Turn, messages: Sequence[Message]) -> None:
        """Store the turn's messages (one transaction), then let the session's next turn in."""
        try:
            await self.store.append(turn.tenant, turn.user, turn.session_id, messages)
        finally:
            turn.release()

    # Endpoints: each waits for a turn in progress on the session, so it sees that turn whole.

    async def sessions(self, tenant: str, user: str | None, limit: int) -> list[dict[str, Any]]:
        return await self.store.sessions(tenant, user, limit)

    async def messages(self, tenant: str, session_id: str) -> list[Message]:
        async with self._lock(session_id):
            try:
                return await self.store.messages(tenant, session_id)
            except UnknownSession:
                raise _not_found() from None

    async def delete_session(self, tenant: str, session_id: str) -> dict[str, int]:
        async with self._lock(session_id):
            try:
                return await self.store.delete_session(tenant, session_id)
            except UnknownSession:
                raise _not_found() from None

    async def delete_user(self, tenant: str, user: str) -> dict[str, int]:
        """Every session of the end user, each once its turn in progress is stored."""
        removed = {"sessions": 0, "messages": 0, "feedback": 0}
        for session_id in await self.store.user_sessions(tenant, user):
            async with self._lock(session_id):
                try:
                    counts = await self.store.delete_session(tenant, session_id)
                except UnknownSession:  # erased meanwhile
                    continue
            for key, value in counts.items():
                removed[key] += value
        return removed

    async def feedback(
        self, tenant: str, session_id: str, turn_id: str, rating: int, comment: str | None
    ) -> int:
        async with self._lock(session_id):
            try:
                return await self.store.add_feedback(tenant, session_id, turn_id, rating, comment)
            except UnknownSession:
                raise _not_found() from None
            except UnknownTurn:
                raise NotFound(
                    "this session has no turn with that id", param="turn_id", code="turn_not_found"
                ) from None

    # Retention

    def start(self) -> None:
        self._purger = asyncio.get_running_loop().create_task(self._purge_forever())

    async def purge(self) -> dict[str, int]:
        now = time.time()
        return await self.store.purge(lambda tenant: now - self.config.retention_for(tenant) * DAY_S)

    async def _purge_forever(self) -> None:
        while True:
            try:
                removed = await self.purge()
                if any(removed.values()):
                    log.info("sessions: retention removed %s", removed)
            except Exception as exc:  # noqa: BLE001 - retry at the next interval
                log.warning("sessions: purge failed: %s", type(exc).__name__)
            await asyncio.sleep(self.config.purge_interval_s)

    async def aclose(self) -> None:
        if self._purger is not None:
            # Wait for it: a purge cut off mid-transaction still rolls back on the connection,
            # which must happen before the engine (and its driver thread) goes away.
            self._purger.cancel()
            await asyncio.gather(self._purger, return_exceptions=True)
        await self.store.close()


def _not_found() -> NotFound:
    # The id is not echoed: a client may put anything in it.
    return NotFound("no such session", param="session_id", code="session_not_found")
