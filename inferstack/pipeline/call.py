"""The Call: everything the stages of one chat/completions request hand each other, and the
`inferstack` extension object they fill in for the answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from inferstack.config.quotas import Limits
from inferstack.models.classifier import Intent
from inferstack.pipeline.protocol import ChatCompletionRequest, CompletionRequest
from inferstack.retrieval.service import Context
from inferstack.router.executor import Outcome
from inferstack.router.policy import Decision
from inferstack.sessions.service import Turn

Request = ChatCompletionRequest | CompletionRequest


@dataclass
class Grounding:
    """What retrieval adds to the prompt (numbered sources), how it went, and the id of the
    prompt template the sources were rendered with ("rag-v1"; None when nothing was added)."""

    context: Context | None = None
    info: dict[str, Any] = field(default_factory=lambda: {"status": "skipped"})
    prompt_id: str | None = None

    @property
    def sources(self) -> list[dict[str, Any]]:
        return self.context.sources if self.context else []

    @property
    def tokens(self) -> int:
        return self.context.tokens if self.context else 0

    def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        """The backend body with the numbered sources as a leading system message."""
        if self.context is None or not self.context.system_prompt or "messages" not in body:
            return body
        return {
            **body,
            "messages": [{"role": "system", "content": self.context.system_prompt}, *body["messages"]],
        }


def _extension() -> dict[str, Any]:
    # ARCHITECTURE §3: a stage that is switched off reports null (or nothing found).
    return {
        "route": None, "sources": [], "retrieval": {"status": "skipped"}, "guard": None, "intent": None,
        "memory": None,
    }  # fmt: skip


@dataclass(eq=False)
class Call:
    """One request on its way through the pipeline. Stages read and change it in place; the
    request itself may be replaced (the input guard puts the redacted copy here)."""

    request: Request
    request_id: str
    tenant: str
    # The short id of the API key that authenticated the call (never the key itself).
    key_id: str | None = None
    key_limits: Limits | None = None  # that key's own limits
    allowed_models: frozenset[str] | None = None  # the deployments that key may use; None: all
    # The `Cache-Control` request header (`no-cache`, `no-store`: the answer cache is bypassed).
    cache_control: str | None = None
    # The `x-session-id` header (the body's `inferstack.session_id` takes precedence).
    session_header: str | None = None
    intent: Intent | None = None
    grounding: Grounding = field(default_factory=Grounding)
    decision: Decision | None = None
    outcome: Outcome = field(default_factory=Outcome)
    usage: dict[str, Any] | None = None  # the backend's token counts, once the answer has them
    cost_usd: float | None = None
    # What the key's and tenant's USD budgets have left (the quota stage); None: no budget.
    budget_left_usd: float | None = None
    # The pseudonym mapping of this request (input guard -> output guard); in memory only.
    pseudonyms: Any = None
    extension: dict[str, Any] = field(default_factory=_extension)
    headers: dict[str, str] = field(default_factory=dict)  # response headers stages add
    timings: dict[str, float] = field(default_factory=dict)  # stage name -> seconds spent in it
    # id/object/created/model of a streamed answer (its first chunk), for chunks stages add.
    stream_head: dict[str, Any] = field(default_factory=dict)
    # Per-call state a stage keeps for itself, under its own name.
    state: dict[str, Any] = field(default_factory=dict)
    # The session turn this call is (memory stage -> persist stage); its lock is held meanwhile.
    turn: Turn | None = None
    # Run once when the call ends, however it ends (error, cancel, answer sent): releases.
    closers: list[Callable[[], None]] = field(default_factory=list)
    # The latest user message as the client sent it, before the input guard redacts the request:
    # the classifier reads it, so a false PII finding cannot change the intent. Memory only; it is
    # never logged, stored or sent anywhere.
    original_text: str | None = field(init=False)

    def __post_init__(self) -> None:
        self.original_text = self.last_user_text()

    @property
    def chat(self) -> bool:
        return isinstance(self.request, ChatCompletionRequest)

    @property
    def endpoint(self) -> str:
        return "/chat/completions" if self.chat else "/completions"

    def session_id(self) -> str | None:
        """The session the client names: the body's `inferstack.session_id`, else the header."""
        options = self.request.inferstack
        if options is not None and options.session_id is not None:
            return options.session_id
        return self.session_header

    def close(self) -> None:
        while self.closers:
            self.closers.pop()()

    def last_user_text(self) -> str | None:
        """The latest user message of a chat (None for text completions)."""
        return self.request.last_user_text() if isinstance(self.request, ChatCompletionRequest) else None

    def extension_object(self) -> dict[str, Any]:
        """The `inferstack` object of the answer, with each stage's wall time in ms."""
        timings = {name: round(seconds * 1000, 3) for name, seconds in self.timings.items()}
        return {**self.extension, "timings_ms": timings}
