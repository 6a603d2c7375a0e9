"""The retrieve stage renders the numbered sources with the tenant's `rag` template and puts the
template id on the grounding and in `inferstack.retrieval` (a store stand-in; the real store
runs in tests/retrieval)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry

from inferstack.config.prompts import PromptsConfig
from inferstack.config.retrieval import RetrievalConfig
from inferstack.pipeline.call import Call
from inferstack.pipeline.metrics import PipelineMetrics
from inferstack.pipeline.protocol import ChatCompletionRequest
from inferstack.pipeline.stages.retrieve import RetrieveStage
from inferstack.prompts import PromptRegistry
from inferstack.retrieval.service import RetrievalService
from inferstack.retrieval.store import Hit


class Store:
    async def run(self, fn: Callable[[], Any], timeout_s: float | None = None) -> Any:
        return fn()

    def search(self, *args: Any, **kwargs: Any) -> list[Hit]:
        return [Hit("c1", "vpn.md", "VPN", "Start the VPN client first.", {}, 0.9)]


class Encoder:
    dimensions = 3

    async def embed_truncating(self, texts: list[str]) -> np.ndarray:
        return np.zeros((len(texts), 3), dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def call(tenant: str) -> Call:
    request = ChatCompletionRequest.model_validate(
        {
            "model": "auto",
            "messages": [{"role": "user", "content": "vpn?"}],
            "inferstack": {"collection": "kb"},
        }
    )
    return Call(request, "rid", tenant)


async def test_the_tenants_rag_template_renders_the_sources(tmp_path: Path) -> None:
    (tmp_path / "acme").mkdir()
    (tmp_path / "acme" / "rag.yaml").write_text(
        "name: rag\nversion: 2\ntemplate: |\n"
        "  Sources:{% for s in sources %}\n  ({{ s.index }}) {{ s.title }}: {{ s.text }}{% endfor %}\n"
    )
    prompts = PromptRegistry.load(PromptsConfig(directory=tmp_path))
    retrieval = RetrievalService(Store(), Encoder(), None, RetrievalConfig())  # type: ignore[arg-type]
    stage = RetrieveStage(retrieval, 2048, None, prompts)
    acme, other = call("acme"), call("globex")
    await stage.on_request(acme)
    await stage.on_request(other)
    assert acme.grounding.context is not None and other.grounding.context is not None
    assert acme.grounding.context.system_prompt == "Sources:\n(1) VPN: Start the VPN client first."
    assert acme.grounding.prompt_id == "rag-v2" and acme.extension["retrieval"]["prompt"] == "rag-v2"
    assert other.grounding.context.system_prompt.endswith("say so.\n\n[1] VPN\nStart the VPN client first.")
    assert other.grounding.prompt_id == "rag-v1" and other.extension["retrieval"]["prompt"] == "rag-v1"


async def test_chunks_the_guard_screens_out_are_dropped_and_counted() -> None:
    async def screen(texts: list[str], tenant: str) -> list[bool]:
        return [False for _ in texts]  # every retrieved chunk reads as an injection

    registry = CollectorRegistry()
    prompts = PromptRegistry.load(PromptsConfig())
    retrieval = RetrievalService(Store(), Encoder(), None, RetrievalConfig())  # type: ignore[arg-type]
    stage = RetrieveStage(retrieval, 2048, screen, prompts, PipelineMetrics(registry))
    screened = call("acme")
    await stage.on_request(screened)
    assert screened.extension["retrieval"]["screened_out"] == 1 and screened.extension["sources"] == []
    assert registry.get_sample_value("inferstack_retrieval_screened_out_chunks_total") == 1.0
