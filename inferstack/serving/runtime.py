"""The stages of one running gateway, built once in the lifespan from validated settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from inferstack.answers.service import AnswerCache
from inferstack.config import Settings
from inferstack.config.cache import CacheLayout
from inferstack.config.models import LocalVllm, ModelSpec, RemoteBackend
from inferstack.guard.service import GuardService
from inferstack.keys.service import KeyService, open_keys
from inferstack.models.classifier import ClassifierService
from inferstack.models.embeddings import Embedder
from inferstack.models.materialize import pull
from inferstack.models.vllm_process import VllmSupervisor
from inferstack.pipeline.build import build_pipeline
from inferstack.pipeline.runner import Pipeline
from inferstack.pipeline.stage import Components
from inferstack.prompts import PromptRegistry
from inferstack.quota.service import QuotaService
from inferstack.retrieval.service import RetrievalService
from inferstack.router.backend import OpenAIBackend
from inferstack.router.breaker import CircuitBreaker
from inferstack.router.deployments import AUTO, Deployment, DeploymentTable
from inferstack.router.health import HealthPoller
from inferstack.router.placement_store import PlacementStore
from inferstack.router.replicas import Replica, ReplicaResolver, replica_id
from inferstack.router.service import RouterService, load_threshold
from inferstack.router.stats import LiveStats, VllmStatsScraper
from inferstack.serving.keys import KeyEndpoints
from inferstack.serving.metrics import GatewayMetrics
from inferstack.serving.operator import OperatorStats
from inferstack.serving.service import ClassifyService, EmbeddingService, GuardEndpoint, RetrievalEndpoints
from inferstack.serving.sessions import SessionEndpoints
from inferstack.serving.stores import build_answer_cache, build_quotas, redis_url
from inferstack.sessions.memory import TokenCounter
from inferstack.sessions.service import ConversationService

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    metrics: GatewayMetrics
    deployments: DeploymentTable
    router: RouterService
    pipeline: Pipeline
    embeddings: EmbeddingService
    classify: ClassifyService
    supervisors: list[VllmSupervisor] = field(default_factory=list)
    resolvers: list[ReplicaResolver] = field(default_factory=list)
    retrieval: RetrievalService | None = None
    guard: GuardService | None = None
    conversations: ConversationService | None = None
    quotas: QuotaService | None = None
    keys: KeyService | None = None
    answers: AnswerCache | None = None
    guard_endpoint: GuardEndpoint = field(default_factory=lambda: GuardEndpoint(None, 1))
    retrieval_endpoints: RetrievalEndpoints = field(default_factory=lambda: RetrievalEndpoints(None))
    session_endpoints: SessionEndpoints = field(default_factory=lambda: SessionEndpoints(None))
    key_endpoints: KeyEndpoints = field(default_factory=lambda: KeyEndpoints(None))
    created: int = field(default_factory=lambda: int(time.time()))
    operator: OperatorStats = field(init=False)

    def __post_init__(self) -> None:
        self.operator = OperatorStats(
            self.metrics.registry, self.deployments, self.pipeline.recent, refresh=self.refresh_gauges
        )

    def model_list(self) -> dict[str, Any]:
        # `endpoint` (beyond OpenAI's fields): what the model serves, for pickers like the chat page's.
        def entry(model_id: str, owner: str, endpoint: str = "chat") -> dict[str, Any]:
            return {"id": model_id, "object": "model", "created": self.created, "owned_by": owner,
                    "endpoint": endpoint}  # fmt: skip

        data = [entry(d.name, "inferstack") for d in self.deployments]
        data.append(entry(AUTO, "inferstack-router"))
        if self.embeddings.embedder is not None:
            data.append(entry(self.embeddings.embedder.name, "inferstack", "embeddings"))
        return {"object": "list", "data": data}

    def readiness(self) -> dict[str, Any]:
        stages: dict[str, str] = {}
        ready = True
        for deployment in self.deployments:
            stages[f"deployment:{deployment.name}"] = deployment.state
            if len(deployment.replicas) != 1:
                healthy = sum(r.backend.healthy for r in deployment.replicas)
                stages[f"replicas:{deployment.name}"] = f"{healthy}/{len(deployment.replicas)} healthy"
            if deployment.spec.required and not deployment.healthy:
                ready = False
        if self.settings.embeddings.enabled:
            loaded = self.embeddings.embedder is not None
            stages["embeddings"] = "loaded" if loaded else "missing"
            ready = ready and loaded
        if self.settings.classifier.enabled:
            loaded = self.classify.classifier is not None
            stages["classifier"] = "loaded" if loaded else "missing"
            ready = ready and loaded
        if self.settings.guard.enabled:
            stages["guard"] = f"ner={self.guard.pii.ner}" if self.guard else "missing"
            ready = ready and self.guard is not None
        if self.retrieval is not None:  # optional: the chat degrades without it
            stages["retrieval"] = "reranked" if self.retrieval.reranker else "no reranker"
        if self.conversations is not None:
            stages["sessions"] = self.conversations.store.engine.dialect.name
        return {"ready": ready, "stages": stages}

    def refresh_gauges(self) -> None:
        restarts: dict[str, int] = {}
        for supervisor in self.supervisors:
            restarts[supervisor.spec.name] = restarts.get(supervisor.spec.name, 0) + supervisor.restarts
        for deployment in self.deployments:
            self.metrics.backend_up.labels(deployment.name).set(1 if deployment.healthy else 0)
            for replica in deployment.replicas:
                self.metrics.replica_up.labels(deployment.name, replica.id).set(
                    1 if replica.backend.healthy else 0
                )
            if deployment.name in restarts:
                self.metrics.backend_restarts.labels(deployment.name).set(restarts[deployment.name])
        self.router.refresh_gauges()

    async def aclose(self) -> None:
        await asyncio.gather(*(r.stop() for r in self.resolvers))
        await asyncio.gather(*(s.stop() for s in self.supervisors))
        await asyncio.gather(*(r.aclose() for d in self.deployments for r in d.replicas))
        await self.router.placer.aclose()
        if self.embeddings.embedder is not None:
            self.embeddings.embedder.close()
        if self.classify.classifier is not None:
            self.classify.classifier.close()
        if self.retrieval is not None:
            await asyncio.to_thread(self.retrieval.close)
        if self.guard is not None:
            self.guard.close()
        if self.conversations is not None:
            await self.conversations.aclose()
        if self.quotas is not None:
            await self.quotas.aclose()
        if self.keys is not None:
            await self.keys.close()
        if self.answers is not None:
            await self.answers.aclose()


def _replica(spec: ModelSpec, settings: Settings, base_url: str) -> Replica:
    """One endpoint of `spec`: its client, breaker and live stats; a health poller when nothing
    here supervises it, a /metrics scraper when it is vLLM."""
    serve, timeouts = spec.serve, spec.timeouts
    api_key: str | None = None
    health_url: str | None = None
    if isinstance(serve, RemoteBackend):
        api_key = os.environ.get(serve.api_key_env) if serve.api_key_env else None
        if serve.health_url:
            health_url = _health_url_of(serve.health_url, serve.base_url, base_url)
    backend = OpenAIBackend(
        spec.name,
        base_url,
        connect_timeout_s=timeouts.connect_s,
        read_timeout_s=timeouts.read_s,
        total_timeout_s=timeouts.total_s,
        max_connections=spec.max_connections,
        api_key=api_key,
        health_url=health_url,
    )
    stats = LiveStats(spec.expected_ttft_ms, spec.max_concurrency, settings.router.ttft_half_life_s)
    replica = Replica(replica_id(base_url), backend, CircuitBreaker(settings.router.breaker), stats)
    if isinstance(serve, RemoteBackend):
        replica.poller = HealthPoller(backend, enabled=serve.health_url is not None)
    if spec.api == "vllm":
        replica.scraper = VllmStatsScraper(backend, stats, settings.router.stats_interval_s)
    return replica


def _health_url_of(health_url: str, base_url: str, replica_url: str) -> str:
    """An explicit health URL on base_url's host is each replica's own on its host; one on
    another host is shared as it is."""
    health, base, replica = urlsplit(health_url), urlsplit(base_url), urlsplit(replica_url)
    if health.netloc != base.netloc:
        return health_url
    return urlunsplit((replica.scheme, replica.netloc, health.path, health.query, ""))


def _deployment_for(
    spec: ModelSpec, settings: Settings, metrics: GatewayMetrics
) -> tuple[Deployment, ReplicaResolver | None]:
    """The deployment with its replicas: local processes on consecutive ports, listed URLs, or
    (with `resolve`) the addresses its host resolves to, refreshed while it runs."""
    serve = spec.serve
    disabled: str | None = None
    resolver: ReplicaResolver | None = None
    if isinstance(serve, LocalVllm):
        urls = [f"http://127.0.0.1:{serve.port + i}/v1" for i in range(serve.replicas)]
    else:
        urls = [] if serve.resolve else [serve.base_url, *serve.replicas]
        if serve.api_key_env and not os.environ.get(serve.api_key_env):
            disabled = f"no API key (env {serve.api_key_env} is empty)"
    deployment = Deployment(spec, [_replica(spec, settings, url) for url in urls], disabled_reason=disabled)
    if isinstance(serve, RemoteBackend) and serve.resolve:

        def left(replica: Replica) -> None:
            metrics.router.forget_replica(spec.name, replica.id)
            with contextlib.suppress(KeyError):
                metrics.replica_up.remove(spec.name, replica.id)

        resolver = ReplicaResolver(
            spec.name, serve.base_url, deployment.replicas,
            lambda url: _replica(spec, settings, url), serve.resolve_interval_s, on_leave=left,
        )  # fmt: skip
    return deployment, resolver


def _placement_store(settings: Settings) -> PlacementStore | None:
    cfg = settings.router.placement
    if cfg.store != "redis":
        return None
    from inferstack.router.placement_redis import RedisPlacementStore

    url = redis_url(settings, "router.placement", cfg.redis_url, cfg.redis_url_env)
    return RedisPlacementStore.from_url(url, cfg.ttl_s, cfg.store_timeout_ms / 1000)


async def _load_classifier(settings: Settings, cache: CacheLayout) -> ClassifierService | None:
    if not settings.classifier.enabled:
        return None
    from inferstack.models.training.artefacts import ensure_trained

    await asyncio.to_thread(ensure_trained, cache)  # no-op when the cached recipe matches
    return await asyncio.to_thread(
        ClassifierService.load,
        cache.trained("intent"),
        cache.trained("ner"),
        settings.classifier.min_confidence,
    )


def _build_guard(
    settings: Settings, cache: CacheLayout, classifier: ClassifierService | None, metrics: GatewayMetrics
) -> GuardService | None:
    """Presidio with our NER when it is loaded, the guard's text classifier (trained when its
    cached recipe is stale) and one Guardrails `Guard` per policy. Runs in a worker thread."""
    cfg = settings.guard
    if not cfg.enabled:
        return None
    from inferstack.guard.pii import PiiDetector
    from inferstack.models.guard_text import TextClassifier
    from inferstack.models.training.artefacts import ensure_trained

    ensure_trained(cache, ("guard",))
    scorer = TextClassifier.load(cache.trained("guard"))
    ner = classifier.ner if classifier is not None and cfg.ner in ("auto", "bert") else None
    pii = PiiDetector.build(cfg.ner, ner, cache.spacy_blank)
    return GuardService(cfg, pii, scorer, metrics.guard)


def sessions_url(settings: Settings, cache: CacheLayout) -> str:
    return settings.sessions.database_url or f"sqlite+aiosqlite:///{cache.data / 'sessions.db'}"


def _estimate_tokens(text: str) -> int:
    return len(text) // 4 + 1


def token_counter(settings: Settings, model_dirs: dict[str, Path]) -> TokenCounter:
    """Token counts for fitting history: the tokenizer of the deployment with the smallest
    context (the one the budget is set by) when it is served here, else ~4 characters a token."""
    smallest = min(settings.models, key=lambda m: m.max_context)
    folder = model_dirs.get(smallest.name)
    if folder is None or not (folder / "tokenizer.json").is_file():
        return _estimate_tokens
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


async def _open_conversations(
    settings: Settings,
    cache: CacheLayout,
    count: TokenCounter,
    parts: tuple[DeploymentTable, PromptRegistry, RetrievalService | None],
) -> ConversationService | None:
    """The store, with the summary writer (a local deployment) and long-term memory (the
    retrieval store's Milvus) where those exist."""
    cfg = settings.sessions
    if not cfg.enabled:
        return None
    from inferstack.serving.memory_index import MilvusMemory
    from inferstack.serving.summariser import LlmSummariser
    from inferstack.sessions.store import SessionStore

    table, prompts, retrieval = parts
    summariser = LlmSummariser.build(settings, table, prompts) if cfg.summaries else None
    memory = None
    if cfg.long_term_memory:
        if retrieval is None:
            log.warning("sessions: long-term memory is off because retrieval is off (it lives in Milvus)")
        else:
            memory = MilvusMemory(retrieval.store, retrieval.embedder, cfg.recall_timeout_s)
    store = await SessionStore.open(sessions_url(settings, cache))
    conversations = ConversationService(store, cfg, count, summariser, memory)
    conversations.start()
    return conversations


def milvus_uri(settings: Settings, cache: CacheLayout) -> str:
    return settings.retrieval.milvus_uri or str(cache.data / "milvus.db")


async def _load_retrieval(
    settings: Settings, cache: CacheLayout, embedder: Embedder | None
) -> RetrievalService | None:
    cfg = settings.retrieval
    if not cfg.enabled:
        return None
    if embedder is None:
        log.warning("retrieval: disabled because embeddings are disabled (it needs the encoder)")
        return None
    from inferstack.models.reranker import Reranker
    from inferstack.retrieval.store import MilvusStore

    token = os.environ.get(cfg.milvus_token_env) if cfg.milvus_token_env else None
    store = await asyncio.to_thread(
        MilvusStore, milvus_uri(settings, cache), embedder.dimensions, token=token
    )
    reranker = None
    if cfg.rerank:
        from inferstack.models.training.artefacts import ensure_trained

        await asyncio.to_thread(ensure_trained, cache, ("reranker",))
        reranker = await asyncio.to_thread(Reranker.load, cache.trained("reranker"))
    return RetrievalService(store, embedder, reranker, cfg)


async def build_runtime(settings: Settings, metrics: GatewayMetrics) -> Runtime:
    """Load the prompt templates (a bad one stops start-up with its file and line), materialise
    models, start local vLLM processes and wait for them, load the embedder."""
    prompts = PromptRegistry.load(settings.prompts)
    cache = CacheLayout(settings.cache_dir).ensure()
    deployments: list[Deployment] = []
    supervisors: list[VllmSupervisor] = []
    resolvers: list[ReplicaResolver] = []
    model_dirs: dict[str, Path] = {}
    for spec in settings.models:
        deployment, resolver = _deployment_for(spec, settings, metrics)
        deployments.append(deployment)
        if resolver is not None:
            resolvers.append(resolver)
        if isinstance(spec.serve, LocalVllm):
            result = await asyncio.to_thread(pull, spec, cache.models)
            model_dirs[spec.name] = result.path
            supervisors.extend(
                VllmSupervisor(spec, result.path, cache, replica.backend, replica=index)
                for index, replica in enumerate(deployment.replicas)
            )
    table = DeploymentTable(deployments, settings.default_deployment.name)
    threshold, threshold_source = load_threshold(settings.router, cache.router)
    log.info("router: policy=%s threshold=%.3f (%s)", settings.router.policy, threshold, threshold_source)
    # Session digests in the placement tables are keyed with the stored keys' secret when it is
    # set (the same on every replica, so every gateway computes the same digest).
    secret = os.environ.get(settings.auth.secret_env, "").encode()
    router = RouterService(
        table, settings.router, metrics.router, threshold, _placement_store(settings), secret
    )
    quotas = build_quotas(settings, metrics) if settings.quotas_active else None
    answers = build_answer_cache(settings, metrics) if settings.answer_cache.enabled else None
    keys = await open_keys(settings, cache) if settings.auth_enabled else None
    embedder = None
    if settings.embeddings.enabled:
        embedder = await asyncio.to_thread(Embedder.from_config, settings.embeddings, cache)
    classifier = await _load_classifier(settings, cache)
    retrieval = await _load_retrieval(settings, cache, embedder)
    guard = await asyncio.to_thread(_build_guard, settings, cache, classifier, metrics)
    conversations = await _open_conversations(
        settings, cache, token_counter(settings, model_dirs), (table, prompts, retrieval)
    )
    parts = Components(
        settings, router, metrics.pipeline, prompts, classifier=classifier, guard=guard, retrieval=retrieval,
        conversations=conversations, quotas=quotas, answers=answers,
    )  # fmt: skip
    try:
        pipeline = build_pipeline(parts)
    except BaseException:
        if conversations is not None:  # its driver thread would keep the process alive
            await conversations.aclose()
        raise
    runtime = Runtime(
        settings=settings,
        metrics=metrics,
        deployments=table,
        router=router,
        pipeline=pipeline,
        retrieval=retrieval,
        guard=guard,
        conversations=conversations,
        quotas=quotas,
        answers=answers,
        keys=keys,
        key_endpoints=KeyEndpoints(keys),
        session_endpoints=SessionEndpoints(conversations),
        guard_endpoint=GuardEndpoint(guard, settings.guard.max_chars),
        retrieval_endpoints=RetrievalEndpoints(retrieval),
        embeddings=EmbeddingService(embedder, settings.embeddings.max_batch),
        classify=ClassifyService(classifier, settings.classifier.max_chars),
        supervisors=supervisors,
        resolvers=resolvers,
    )
    try:
        for supervisor in supervisors:
            await supervisor.start()
        await asyncio.gather(*(s.wait_healthy() for s in supervisors if s.spec.required))
        # Remote pollers probe once on start: after local backends are up, so a remote entry
        # that points at one of them starts with the right state.
        await asyncio.gather(*(r.start_watching() for d in deployments for r in d.replicas))
        await asyncio.gather(*(r.start() for r in resolvers))
    except BaseException:
        await runtime.aclose()
        raise
    return runtime
