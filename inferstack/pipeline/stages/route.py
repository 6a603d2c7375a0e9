"""The route stage: on the way in, the router's decision (which deployment, why, what it would
cost); on the way out, the route header and the `inferstack.route` record of what happened."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson

from inferstack.models.classifier import Intent
from inferstack.pipeline.call import Call
from inferstack.pipeline.protocol import ChatCompletionRequest, CompletionRequest
from inferstack.pipeline.stage import Components, Stage
from inferstack.router.deployments import AUTO
from inferstack.router.quality import PromptFeatures
from inferstack.router.service import RouterService

ROUTE_HEADER = "x-inferstack-route"


def _message_chars(request: ChatCompletionRequest) -> int:
    total = 0
    for message in request.messages:
        if isinstance(message.content, str):
            total += len(message.content)
        elif message.content:
            total += sum(len(p.get("text") or "") for p in message.content if isinstance(p, dict))
    return total


def estimate_prompt_tokens(request: ChatCompletionRequest) -> int:
    """About 4 characters a token, plus the tool schemas and a few tokens per message."""
    tools_chars = sum(len(orjson.dumps(t.function)) for t in request.tools or [])
    return (_message_chars(request) + tools_chars) // 4 + 4 * len(request.messages)


def prompt_features(
    request: ChatCompletionRequest | CompletionRequest, intent: Intent | None, default_output: int
) -> PromptFeatures:
    """What the router sees of a request. Token counts are estimates (4 characters a token)."""
    output = request.max_tokens or default_output
    if isinstance(request, ChatCompletionRequest):
        fmt = request.response_format
        return PromptFeatures(
            text=request.last_user_text() or "",
            prompt_tokens=estimate_prompt_tokens(request),
            output_tokens=request.max_completion_tokens or output,
            intent=intent.label if intent and intent.confident else None,  # unsure: as if unknown
            intent_score=intent.score if intent and intent.confident else 0.0,
            needs_tools=bool(request.tools),
            needs_json=fmt is not None and fmt.type != "text",
        )
    prompt = request.prompt
    if isinstance(prompt, str):
        text, tokens = prompt, len(prompt) // 4
    elif prompt and isinstance(prompt[0], str):
        text, tokens = " ".join(prompt), sum(len(p) for p in prompt) // 4
    else:
        text, tokens = "", sum(len(p) if isinstance(p, list) else 1 for p in prompt)
    return PromptFeatures(text=text, prompt_tokens=tokens, output_tokens=output)


class RouteStage(Stage):
    name = "route"
    in_dry_run = True

    def __init__(self, router: RouterService) -> None:
        self.router = router
        self.default_output = router.config.default_output_tokens

    @classmethod
    def build(cls, parts: Components) -> Stage:
        return cls(parts.router)

    def admit(self, call: Call) -> None:
        if call.request.model != AUTO:
            self.router.table.pinned(call.request.model)  # an unknown model is a 404 before any CPU

    async def on_request(self, call: Call) -> None:
        # Availability is checked here, not in `admit`: a stage above (a cache) may still answer
        # while the backends are down.
        self.router.precheck(call.request.model)
        features = prompt_features(call.request, call.intent, self.default_output)
        if call.grounding.tokens:
            features = replace(features, prompt_tokens=features.prompt_tokens + call.grounding.tokens)
        call.decision = self.router.decide(
            call.request.model, features, call.tenant, call.budget_left_usd, call.allowed_models
        )

    def on_headers(self, call: Call) -> None:
        decision = call.decision
        if decision is None:
            return
        served = call.outcome.served_by or decision.deployment
        call.headers[ROUTE_HEADER] = f"{served.name}; reason={decision.reason}"

    def _record(self, call: Call) -> None:
        if call.decision is not None:
            call.extension["route"] = self.router.route_object(call.decision, call.outcome, call.cost_usd)

    async def on_body(self, call: Call, body: dict[str, Any]) -> None:
        self._record(call)

    async def on_stream_end(self, call: Call) -> list[bytes]:
        self._record(call)
        return []
