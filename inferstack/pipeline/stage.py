"""The Stage interface: one step of the chat/completions path, modelled on an HTTP filter chain
(Envoy's). Stages are listed outermost first. A request goes down the list: each stage may
change the Call, add to it, refuse it (raise an InferstackError) or answer it itself (return
the answer: a body, or a stream of SSE events). The answer then comes back up through the
stages above the one that answered: as a whole body, or event by event on a stream."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from inferstack.answers.service import AnswerCache
from inferstack.config import Settings
from inferstack.guard.service import GuardService
from inferstack.models.classifier import ClassifierService
from inferstack.pipeline.call import Call
from inferstack.pipeline.metrics import PipelineMetrics
from inferstack.prompts import PromptRegistry
from inferstack.quota.service import QuotaService
from inferstack.retrieval.service import RetrievalService
from inferstack.router.service import RouterService
from inferstack.sessions.service import ConversationService

# What a stage may answer with: an OpenAI JSON body, or the SSE events of a stream (each one
# `data: {...}\n\n` bytes, ending with `data: [DONE]`).
Answer = dict[str, Any] | AsyncGenerator[bytes, None]


@dataclass(frozen=True)
class Components:
    """What the lifespan built, for stages to pick from (None: that component is off)."""

    settings: Settings
    router: RouterService
    metrics: PipelineMetrics
    prompts: PromptRegistry
    classifier: ClassifierService | None = None
    guard: GuardService | None = None
    retrieval: RetrievalService | None = None
    conversations: ConversationService | None = None
    quotas: QuotaService | None = None
    answers: AnswerCache | None = None


class Stage:
    """Override only the hooks the stage needs: the runner calls a hook only where a stage
    overrides it, so an unused hook costs nothing per request or per stream event."""

    name: ClassVar[str]
    # `POST /v1/route` (the dry run) runs this stage's `admit` and `on_request`: stages the
    # routing decision depends on, and that are cheap.
    in_dry_run: ClassVar[bool] = False

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        """False when the configuration switches the stage off (it is then not in the list)."""
        return True

    @classmethod
    def build(cls, parts: Components) -> Stage | None:
        """The stage over the built components, or None when one it needs is missing."""
        return cls()

    def admit(self, call: Call) -> None:
        """Cheap checks that run for every stage before any stage spends CPU; raise to refuse."""

    async def on_request(self, call: Call) -> Answer | None:
        """On the way in. Return an answer to answer the call here (stages below do not run)."""
        return None

    def on_headers(self, call: Call) -> None:
        """The answer is about to start (its body is complete, or its first event is ready):
        the last moment to add response headers to `call.headers`."""

    async def on_body(self, call: Call, body: dict[str, Any]) -> None:
        """A whole answer on its way out; change it in place."""

    def on_event(self, call: Call, event: bytes) -> bytes | None:
        """One SSE event of a streamed answer on its way out: the event (maybe changed), or None
        to drop it."""
        return event

    async def on_stream_end(self, call: Call) -> list[bytes]:
        """The stream is complete: events to send before it ends (the stages above see them)."""
        return []


RESPONSE_HOOKS = ("on_headers", "on_body", "on_event", "on_stream_end")


def overrides(stage: Stage | type[Stage], hook: str) -> bool:
    cls = stage if isinstance(stage, type) else type(stage)
    return getattr(cls, hook) is not getattr(Stage, hook)


def describe(stages: Sequence[Stage | type[Stage]]) -> dict[str, list[str]]:
    """The order as `inferstack config check` prints it: all stages, outermost first; those that
    act on the way in; those an answer from the last stage passes on the way out, innermost
    first; those the dry run (`POST /v1/route`) runs."""
    names = [s.name for s in stages]
    response = [s.name for s in reversed(stages[:-1]) if any(overrides(s, h) for h in RESPONSE_HOOKS)]
    return {
        "stages": names,
        "request": [s.name for s in stages if overrides(s, "admit") or overrides(s, "on_request")],
        "response": [*names[-1:], *response],
        "dry_run": [s.name for s in stages if s.in_dry_run],
    }
