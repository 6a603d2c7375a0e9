"""Conversations as the pipeline and the session endpoints use them: a turn holds its session's
lock from loading the history until its messages are stored, so concurrent turns on one session
run one after another (none lost, none interleaved). A turn carries the latest messages that fit
its token budget, the running summary of older ones and recalled past turns (sessions.memory);
after it is stored, the summary update and the long-term index run in the background, and a
later turn waits for a summary only when it needs one still being written. Erasure reaches every
store; a purge task enforces each tenant's retention."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
import weakref
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from inferstack.config.sessions import SessionsConfig
from inferstack.errors import InvalidRequest, NotFound
from inferstack.sessions.memory import (
    LongTermMemory,
    PastTurn,
    RecallStatus,
    Summariser,
    TokenCounter,
    Window,
    plan,
)
from inferstack.sessions.store import (
    ERASED,
    Message,
    Recalled,
    SessionStore,
    Summary,
    UnknownSession,
    UnknownTurn,
)
from inferstack.text import PLACEHOLDER

log = logging.getLogger(__name__)
SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
DAY_S = 86_400.0
SUMMARY_AHEAD = 2  # a summary update also covers the oldest carried turn, so the next turn rarely waits


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


@dataclass(eq=False)
class Turn:
    """One request's turn on a session: its lock is held from `begin` until `release`."""

    session_id: str
    tenant: str
    user: str | None
    history: list[Recalled]
    summary: Summary | None
    lock: asyncio.Lock
    recall: asyncio.Future[tuple[list[PastTurn], RecallStatus]] | None = None
    recall_status: RecallStatus | None = None  # set once the window has waited for the recall
    window: Window | None = None
    prompt_ids: list[str] = field(default_factory=list)  # the memory templates this turn's prompt used
    turn_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: float = field(default_factory=time.time)
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.lock.release()


class ConversationService:
    def __init__(
        self,
        store: SessionStore,
        config: SessionsConfig,
        count: TokenCounter,
        summariser: Summariser | None = None,
        memory: LongTermMemory | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.count = count
        self.summariser = summariser if config.summaries else None
        self.memory = memory if config.long_term_memory else None
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._purger: asyncio.Task[None] | None = None
        # Background work of stored turns, per session: summary updates and index writes.
        self._pending: dict[str, set[asyncio.Task[None]]] = {}
        self._summaries: dict[str, asyncio.Task[None]] = {}

    def _lock(self, session_id: str) -> asyncio.Lock:
        lock = self._locks.get(session_id)
        if lock is None:
            lock = self._locks[session_id] = asyncio.Lock()
        return lock

    async def begin(self, tenant: str, user: str | None, session_id: str, query: str = "") -> Turn:
        """Wait for the session's earlier turns, then load its history and summary; recall past
        turns like `query` meanwhile. NotFound when the session belongs to another tenant."""
        recall = None
        if self.memory is not None and query:
            recall = asyncio.ensure_future(self._recall(tenant, session_id, user, query))
        lock = self._lock(session_id)
        try:
            await lock.acquire()
        except BaseException:
            if recall is not None:
                recall.cancel()
            raise
        try:
            history, summary = await self.store.history(tenant, session_id, self.config.max_history_messages)
            # No history: a new session, or another tenant's (the history query is per tenant).
            if not history and summary is None and await self.store.owner(session_id) not in (None, tenant):
                raise _not_found()
        except BaseException:
            lock.release()
            if recall is not None:
                recall.cancel()
            raise
        return Turn(session_id, tenant, user, history, summary, lock, recall)

    async def window(self, turn: Turn, budget: int) -> Window:
        """What the turn carries in `budget` tokens. When older messages no longer fit and the
        summary standing for them is still being written, wait for it (`summary_wait_s`)."""
        recalled: list[PastTurn] = []
        if turn.recall is not None:
            recalled, turn.recall_status = await turn.recall
        cfg = self.config
        window = plan(turn.history, turn.summary, recalled, budget, self.count, cfg.recall_reserve_tokens)
        pending = self._summaries.get(turn.session_id)
        if window.uncovered and pending is not None and not pending.done():
            await asyncio.wait({pending}, timeout=cfg.summary_wait_s)  # never raises, never cancels it
            turn.history, turn.summary = await self.store.history(
                turn.tenant, turn.session_id, cfg.max_history_messages
            )
            window = plan(turn.history, turn.summary, recalled, budget, self.count, cfg.recall_reserve_tokens)
        turn.window = window
        return window

    async def persist(self, turn: Turn, messages: Sequence[Message]) -> None:
        """Store the turn's messages (one transaction), then let the session's next turn in;
        the summary update and the long-term index follow in the background."""
        try:
            await self.store.append(turn.tenant, turn.user, turn.session_id, messages)
        finally:
            turn.release()
        window = turn.window
        running = self._summaries.get(turn.session_id)
        if self.summariser is not None and window is not None and window.uncovered and running is None:
            # (One update at a time per session: a turn that gave up waiting does not add another.)
            covered = turn.history[: min(len(turn.history), window.uncovered + SUMMARY_AHEAD)]
            task = self._background(turn.session_id, self._summarise(turn, covered))
            self._summaries[turn.session_id] = task
        if self.memory is not None:
            question = "\n".join(m.content for m in messages if m.role == "user")
            answer = next((m.content for m in reversed(messages) if m.role == "assistant"), "")
            past = PastTurn(turn.turn_id, question, answer, 0.0)
            self._background(turn.session_id, self._index(turn, past))

    def _background(self, session_id: str, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        tasks = self._pending.setdefault(session_id, set())
        tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            tasks.discard(finished)
            if not tasks and self._pending.get(session_id) is tasks:
                del self._pending[session_id]
            if self._summaries.get(session_id) is finished:
                del self._summaries[session_id]

        task.add_done_callback(done)
        return task

    async def settled(self, session_id: str) -> None:
        """Wait until the session's background work (summary, index) is finished."""
        tasks = list(self._pending.get(session_id, ()))
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _summarise(self, turn: Turn, covered: Sequence[Recalled]) -> None:
        assert self.summariser is not None
        previous = turn.summary
        try:
            text, prompt = await self.summariser.summarise(
                turn.tenant, previous.content if previous else "", covered
            )
            if not text:
                return
            summary = Summary(
                text, (previous.version if previous else 0) + 1, covered[-1].id, self.count(text)
            )
            await self.store.save_summary(turn.tenant, turn.session_id, summary, prompt)
        except Exception as exc:  # noqa: BLE001 - the next turn carries fewer messages instead
            log.warning("sessions: summary not updated: %s", type(exc).__name__)

    async def _index(self, turn: Turn, past: PastTurn) -> None:
        assert self.memory is not None
        try:
            await self.memory.add(turn.tenant, turn.session_id, turn.user, past)
        except Exception as exc:  # noqa: BLE001 - the turn is stored; it is just not recallable
            log.warning("sessions: turn not indexed for recall: %s", type(exc).__name__)

    async def _recall(
        self, tenant: str, session_id: str, user: str | None, query: str
    ) -> tuple[list[PastTurn], RecallStatus]:
        assert self.memory is not None
        cfg = self.config
        try:
            # Extra candidates: some are turns the window carries anyway. Bounded: the turn holds
            # its session's lock while it waits for this.
            async with asyncio.timeout(cfg.recall_timeout_s):
                found = await self.memory.recall(tenant, session_id, user, query, cfg.recall_turns + 8)
        except TimeoutError:
            log.warning("sessions: recall timed out after %.1fs", cfg.recall_timeout_s)
            return [], "timed_out"
        except Exception as exc:  # noqa: BLE001 - the turn goes on without long-term memory
            log.warning("sessions: recall failed: %s", type(exc).__name__)
            return [], "failed"
        return [p for p in found if p.score >= cfg.recall_min_score], "ok"

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
        try:
            return await self._erase(tenant, session_id)
        except UnknownSession:
            raise _not_found() from None

    async def delete_user(self, tenant: str, user: str) -> dict[str, int]:
        """Every session of the end user, each once its turn in progress is stored."""
        removed = dict.fromkeys((*ERASED, "memory_vectors"), 0)
        for session_id in await self.store.user_sessions(tenant, user):
            try:
                counts = await self._erase(tenant, session_id)
            except UnknownSession:  # erased meanwhile
                continue
            for key, value in counts.items():
                removed[key] += value
        return removed

    async def _erase(self, tenant: str, session_id: str) -> dict[str, int]:
        """Once the turn in progress and its background work are done (so nothing is written
        after), erase the session from the SQL store and the long-term index."""
        async with self._lock(session_id):
            await self.settled(session_id)
            if await self.store.owner(session_id) != tenant:
                raise UnknownSession(session_id)
            # Vectors first: if the index fails, the session is still there and a retry erases both.
            vectors = await self.memory.erase_session(tenant, session_id) if self.memory is not None else 0
            removed = await self.store.delete_session(tenant, session_id)
        return {**removed, "memory_vectors": vectors}

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
        cfg = self.config

        def cutoff(tenant: str | None) -> float:
            days = cfg.retention_days if tenant is None else cfg.retention_for(tenant)
            return now - days * DAY_S

        removed = await self.store.purge(cutoff)
        if self.memory is not None:
            removed["memory_vectors"] = await self.memory.purge(cutoff, list(cfg.tenant_retention_days))
        return removed

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
        background = [t for tasks in self._pending.values() for t in tasks]
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await self.store.close()


def _not_found() -> NotFound:
    # The id is not echoed: a client may put anything in it.
    return NotFound("no such session", param="session_id", code="session_not_found")
