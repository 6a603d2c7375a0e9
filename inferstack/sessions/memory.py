"""What a session turn's prompt carries besides its own messages, and the parts that make it:
the latest stored messages that fit (short-term), a running summary of the older ones written
by the local LLM after an answer is sent, and past turns recalled from a vector index
(long-term). The writer and the index are Protocols: the serving layer builds them from the
router's deployments and the retrieval store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Protocol

from inferstack.sessions.store import Recalled, Summary

MESSAGE_OVERHEAD_TOKENS = 4  # role markers a chat template adds around each message
# How a turn's recall ended; anything but "ok" means it went on without recalled turns.
RecallStatus = Literal["ok", "timed_out", "failed"]
# Text -> its token count (the deployment's tokenizer, or an estimate).
TokenCounter = Callable[[str], int]


class PastTurn(NamedTuple):
    """A turn recalled from long-term memory (redacted text, as stored)."""

    turn_id: str
    question: str
    answer: str
    score: float


class Summariser(Protocol):
    async def summarise(self, tenant: str, previous: str, messages: Sequence[Recalled]) -> tuple[str, str]:
        """The updated summary, and the id of the prompt template that asked for it."""
        ...


class LongTermMemory(Protocol):
    """Past turns as vectors, scoped by tenant; recall reads the session's and its user's."""

    async def add(self, tenant: str, session_id: str, user: str | None, turn: PastTurn) -> None: ...

    async def recall(
        self, tenant: str, session_id: str, user: str | None, query: str, limit: int
    ) -> list[PastTurn]: ...

    async def erase_session(self, tenant: str, session_id: str) -> int: ...

    async def purge(self, cutoff_for: Callable[[str | None], float], tenants: Sequence[str]) -> int:
        """Drop turns older than their tenant's cutoff: `cutoff_for(t)` for each of `tenants`,
        `cutoff_for(None)` for every other tenant."""
        ...


@dataclass
class Window:
    """What one turn carries: `messages` whole (newest last), the summary standing for the
    older ones, recalled past turns, and how many loaded messages it carries neither way."""

    messages: list[Recalled]
    summary: Summary | None = None
    recalled: list[PastTurn] = field(default_factory=list)
    uncovered: int = 0


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


def plan(
    history: Sequence[Recalled],
    summary: Summary | None,
    recalled: Sequence[PastTurn],
    budget: int,
    count: TokenCounter,
    recall_budget: int,
) -> Window:
    """The window for `budget` tokens: the summary (it stands for everything before the
    history), recalled turns that the latest messages do not already carry (at most
    `recall_budget` tokens of them), and as many of the latest messages as fit in the rest."""
    available = budget - (summary.tokens + MESSAGE_OVERHEAD_TOKENS if summary is not None else 0)
    kept = fit(history, available, count)
    carried = {m.turn_id for m in history[len(history) - kept :]}
    chosen: list[PastTurn] = []
    used = 0
    for past in recalled:
        if past.turn_id in carried:
            continue
        cost = count(past.question) + count(past.answer) + 2 * MESSAGE_OVERHEAD_TOKENS
        if used + cost > recall_budget:
            break
        chosen.append(past)
        used += cost
    if chosen:
        kept = fit(history, available - used, count)
    return Window(list(history[len(history) - kept :]), summary, chosen, len(history) - kept)
