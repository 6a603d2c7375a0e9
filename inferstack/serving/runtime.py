"""The stages of one running gateway, built once in the lifespan from validated settings."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from inferstack.cache import CacheLayout
from inferstack.config import LocalVllm, ModelSpec, RemoteBackend, Settings
from inferstack.models.classifier import ClassifierService
from inferstack.models.embeddings import Embedder
from inferstack.models.materialize import pull
from inferstack.models.vllm_process import VllmSupervisor
from inferstack.router.backend import OpenAIBackend
from inferstack.router.deployments import AUTO, Deployment, DeploymentTable
from inferstack.router.health import HealthPoller
from inferstack.serving.metrics import GatewayMetrics
from inferstack.serving.service import ClassifyService, EmbeddingService, GenerationService

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    metrics: GatewayMetrics
    deployments: DeploymentTable
    generation: GenerationService
    embeddings: EmbeddingService
    classify: ClassifyService
    supervisors: list[VllmSupervisor] = field(default_factory=list)
    pollers: list[HealthPoller] = field(default_factory=list)
    created: int = field(default_factory=lambda: int(time.time()))

    def model_list(self) -> dict[str, Any]:
        def entry(model_id: str, owner: str) -> dict[str, Any]:
            return {"id": model_id, "object": "model", "created": self.created, "owned_by": owner}

        data = [entry(d.name, "inferstack") for d in self.deployments]
        data.append(entry(AUTO, "inferstack-router"))
        if self.embeddings.embedder is not None:
            data.append(entry(self.embeddings.embedder.name, "inferstack"))
        return {"object": "list", "data": data}

    def readiness(self) -> dict[str, Any]:
        stages: dict[str, str] = {}
        ready = True
        for deployment in self.deployments:
            state = deployment.backend.state.value
            stages[f"deployment:{deployment.name}"] = state
            if deployment.spec.required and not deployment.backend.healthy:
                ready = False
        if self.settings.embeddings.enabled:
            loaded = self.embeddings.embedder is not None
            stages["embeddings"] = "loaded" if loaded else "missing"
            ready = ready and loaded
        if self.settings.classifier.enabled:
            loaded = self.classify.classifier is not None
            stages["classifier"] = "loaded" if loaded else "missing"
            ready = ready and loaded
        return {"ready": ready, "stages": stages}

    def refresh_gauges(self) -> None:
        for deployment in self.deployments:
            self.metrics.backend_up.labels(deployment.name).set(1 if deployment.backend.healthy else 0)
        for supervisor in self.supervisors:
            self.metrics.backend_restarts.labels(supervisor.spec.name).set(supervisor.restarts)

    async def aclose(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.supervisors), *(p.stop() for p in self.pollers))
        await asyncio.gather(*(d.backend.aclose() for d in self.deployments))
        if self.embeddings.embedder is not None:
            self.embeddings.embedder.close()
        if self.classify.classifier is not None:
            self.classify.classifier.close()


def _backend_for(spec: ModelSpec) -> OpenAIBackend:
    serve = spec.serve
    timeouts = spec.timeouts
    api_key: str | None = None
    health_url: str | None = None
    if isinstance(serve, LocalVllm):
        base_url = f"http://127.0.0.1:{serve.port}/v1"
    else:
        base_url = serve.base_url
        api_key = os.environ.get(serve.api_key_env) if serve.api_key_env else None
        health_url = serve.health_url or None
    return OpenAIBackend(
        spec.name,
        base_url,
        connect_timeout_s=timeouts.connect_s,
        read_timeout_s=timeouts.read_s,
        total_timeout_s=timeouts.total_s,
        max_connections=spec.max_connections,
        api_key=api_key,
        health_url=health_url,
    )


async def _load_classifier(settings: Settings, cache: CacheLayout) -> ClassifierService | None:
    if not settings.classifier.enabled:
        return None
    from inferstack.models.training.artefacts import ensure_trained

    await asyncio.to_thread(ensure_trained, cache)  # no-op when the cached recipe matches
    return await asyncio.to_thread(ClassifierService.load, cache.trained("intent"), cache.trained("ner"))


async def build_runtime(settings: Settings, metrics: GatewayMetrics) -> Runtime:
    """Materialise models, start local vLLM processes and wait for them, load the embedder."""
    cache = CacheLayout(settings.cache_dir).ensure()
    deployments: list[Deployment] = []
    supervisors: list[VllmSupervisor] = []
    pollers: list[HealthPoller] = []
    for spec in settings.models:
        backend = _backend_for(spec)
        deployments.append(Deployment(spec, backend))
        if isinstance(spec.serve, LocalVllm):
            result = await asyncio.to_thread(pull, spec, cache.models)
            supervisors.append(VllmSupervisor(spec, result.path, cache, backend))
        else:
            assert isinstance(spec.serve, RemoteBackend)
            enabled = spec.serve.health_url is not None
            pollers.append(HealthPoller(backend, enabled=enabled))
    table = DeploymentTable(deployments, settings.default_deployment.name)
    embedder = None
    if settings.embeddings.enabled:
        cfg = settings.embeddings
        embedder = await asyncio.to_thread(Embedder.load, cfg.name, cfg.package)
    classifier = await _load_classifier(settings, cache)
    in_chat = classifier if settings.classifier.in_chat else None
    runtime = Runtime(
        settings=settings,
        metrics=metrics,
        deployments=table,
        generation=GenerationService(table, metrics, in_chat),
        embeddings=EmbeddingService(embedder, settings.embeddings.max_batch),
        classify=ClassifyService(classifier, settings.classifier.max_chars),
        supervisors=supervisors,
        pollers=pollers,
    )
    try:
        for supervisor in supervisors:
            await supervisor.start()
        await asyncio.gather(*(s.wait_healthy() for s in supervisors if s.spec.required))
        # Remote pollers probe once on start: after local backends are up, so a remote entry
        # that points at one of them starts with the right state.
        await asyncio.gather(*(p.start() for p in pollers))
    except BaseException:
        await runtime.aclose()
        raise
    return runtime
