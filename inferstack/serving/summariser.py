"""The running-summary writer of conversations (the sessions' Summariser): the `summarise`
template of the tenant, sent to one self-hosted deployment at temperature 0. It runs after an answer is
sent, off the request path; its tokens are not counted against any caller's budget."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from inferstack.config import Settings
from inferstack.prompts import PromptRegistry
from inferstack.router.deployments import Deployment, DeploymentTable
from inferstack.sessions.store import Recalled

log = logging.getLogger(__name__)


class LlmSummariser:
    def __init__(self, deployment: Deployment, prompts: PromptRegistry, max_tokens: int) -> None:
        self.deployment = deployment
        self.prompts = prompts
        self.max_tokens = max_tokens

    @classmethod
    def build(
        cls, settings: Settings, table: DeploymentTable, prompts: PromptRegistry
    ) -> LlmSummariser | None:
        """Over `sessions.summary_model`, else the lowest-tier self-hosted vLLM deployment; None
        (no summaries) when there is none."""
        cfg = settings.sessions
        deployments = list(table)
        if cfg.summary_model is not None:  # a configured model (Settings checks the name)
            chosen = next(d for d in deployments if d.name == cfg.summary_model)
        else:
            # Self-hosted vLLM (a local process or a vLLM Service): never a paid managed API.
            own = [d for d in deployments if d.spec.api == "vllm" and d.disabled_reason is None]
            if not own:
                log.info("sessions: no self-hosted vLLM deployment, so no running summaries")
                return None
            chosen = min(own, key=lambda d: d.spec.tier)
        return cls(chosen, prompts, cfg.summary_max_tokens)

    async def summarise(self, tenant: str, previous: str, messages: Sequence[Recalled]) -> tuple[str, str]:
        prompt = self.prompts.get("summarise", tenant)
        text = prompt.render(
            summary=previous, turns=[{"role": m.role, "content": m.content} for m in messages]
        )
        body = {
            "model": self.deployment.spec.backend_model,
            "messages": [{"role": "user", "content": text}],
            "max_tokens": self.max_tokens,
            "temperature": 0,
        }
        backend = self.deployment.least_loaded().backend
        data = await backend.post_json("/chat/completions", body, {})
        choices = data.get("choices") or [{}]
        content = (choices[0].get("message") or {}).get("content") or ""
        return content.strip(), prompt.id
