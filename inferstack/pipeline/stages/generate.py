"""The generate stage, last in the pipeline: places the call on a replica of the decided
deployment and runs it there, then on the fallback chain (router.executor: retries, circuit
breakers, mid-stream failover), and answers with the backend's body or its SSE events, passed
through as bytes."""

from __future__ import annotations

from typing import Any

from inferstack.pipeline.call import Call, Request
from inferstack.pipeline.protocol import ChatCompletionRequest
from inferstack.pipeline.stage import Answer, Components, Stage
from inferstack.router.deployments import Deployment
from inferstack.router.service import RouterService


def continuation_payload(
    request: Request, target: Deployment, partial: str, tokens: int
) -> dict[str, Any] | None:
    """The request to finish a broken stream on `target`: the partial answer as an assistant
    prefix (chat) or appended to the prompt (text). None when that is not possible."""
    if request.n != 1:
        return None
    body = request.backend_payload(target.spec.backend_model)
    for key in ("max_tokens", "max_completion_tokens"):
        if isinstance(body.get(key), int):
            body[key] = max(1, body[key] - tokens)
    if isinstance(request, ChatCompletionRequest):
        body["messages"] = [*body["messages"], {"role": "assistant", "content": partial}]
        if target.spec.api == "vllm":
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
        return body
    if not isinstance(request.prompt, str) or request.echo:
        return None
    body["prompt"] = request.prompt + partial
    return body


class GenerateStage(Stage):
    name = "generate"

    def __init__(self, router: RouterService) -> None:
        self.router = router

    @classmethod
    def build(cls, parts: Components) -> Stage:
        return cls(parts.router)

    async def on_request(self, call: Call) -> Answer:
        decision = call.decision
        if decision is None:
            raise RuntimeError("generate needs a routing decision: the `route` stage must come first")
        request, grounding = call.request, call.grounding
        headers = {"X-Request-Id": call.request_id}

        bodies: dict[str, dict[str, Any]] = {}  # built once per deployment (placement hashes it too)

        def payload_for(deployment: Deployment) -> dict[str, Any]:
            body = bodies.get(deployment.name)
            if body is None:
                body = bodies[deployment.name] = grounding.apply(
                    request.backend_payload(deployment.spec.backend_model)
                )
            return body

        # A session (or the request's `user`) keeps to one replica under session affinity.
        session = call.session_id() or request.user
        targets = await self.router.targets(
            decision, lambda: payload_for(decision.deployment), session, call.outcome
        )
        if not request.stream:
            return await self.router.executor.call_json(
                targets, call.endpoint, payload_for, headers, call.outcome
            )

        def continue_for(target: Deployment, partial: str, tokens: int) -> dict[str, Any] | None:
            body = continuation_payload(request, target, partial, tokens)
            return grounding.apply(body) if body is not None else None

        return self.router.executor.stream(
            targets, call.endpoint, payload_for, continue_for, headers, call.outcome
        )
