"""`inferstack config check`, `routes`, `router calibrate` and `ingest`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from inferstack.cli.common import EXIT_CONFIG, batch_settings
from inferstack.config import load_settings
from inferstack.config.cache import CacheLayout


def cmd_config_check(args: argparse.Namespace) -> int:
    settings = load_settings(Path(args.file), use_env_path=False)
    settings.check_bind()
    for key in settings.auth.api_keys:
        key.resolve()
    from inferstack.pipeline.build import configured_stages
    from inferstack.pipeline.stage import describe
    from inferstack.prompts import PromptRegistry

    order = describe(configured_stages(settings))
    prompts = PromptRegistry.load(settings.prompts)
    models = ", ".join(m.name for m in settings.models)
    print(f"{args.file}: OK (bind {settings.host}:{settings.port}; models: {models})")
    print(f"pipeline (outermost first): {', '.join(order['stages'])}")
    print(f"  request:  {' -> '.join(order['request'])}")
    print(f"  response: {' -> '.join(order['response'])}")
    print(f"  dry run (POST /v1/route): {' -> '.join(order['dry_run'])}")
    tenants = f"; overrides for {', '.join(prompts.tenants())}" if prompts.tenants() else ""
    print(f"prompts: {', '.join(prompts.get(n).id for n in prompts.names())}{tenants}")
    return 0


def cmd_routes(args: argparse.Namespace) -> int:
    from inferstack.router.cost import price_of

    settings = batch_settings(args)
    print(f"policy {settings.router.policy}, SLO TTFT {settings.router.slo_ttft_ms:.0f} ms")
    header = (
        "deployment",
        "api",
        "tier",
        "context",
        "tools",
        "json",
        "$/1M in",
        "$/1M out",
        "basis",
        "status",
    )
    rows = [header]
    for spec in settings.models:
        price = price_of(spec.cost, None)
        key_env = getattr(spec.serve, "api_key_env", None)
        status = "no API key" if key_env and not os.environ.get(key_env) else "enabled"
        rows.append((
            spec.name, spec.api, str(spec.tier), str(spec.max_context),
            "yes" if spec.capabilities.tools else "no", "yes" if spec.capabilities.json_mode else "no",
            f"{price.input_usd_per_1m:.4f}", f"{price.output_usd_per_1m:.4f}", price.basis, status,
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    print("Self-hosted prices use live throughput from vLLM /metrics once the gateway runs "
          "(see POST /v1/route).")  # fmt: skip
    return 0


def cmd_router_calibrate(args: argparse.Namespace) -> int:
    import json

    from inferstack.models.classifier import ClassifierService
    from inferstack.models.training.artefacts import ensure_trained
    from inferstack.pipeline.protocol import ChatCompletionRequest
    from inferstack.pipeline.stages.route import prompt_features
    from inferstack.router import calibrate, golden
    from inferstack.router.cost import price_of
    from inferstack.router.quality import PromptFeatures, build_scorer

    settings = batch_settings(args)
    cache = CacheLayout(settings.cache_dir).ensure()
    ensure_trained(cache)
    classifier = ClassifierService.load(cache.trained("intent"), cache.trained("ner"))
    default_output = settings.router.default_output_tokens

    def features_of(text: str) -> PromptFeatures:
        request = ChatCompletionRequest.model_validate(
            {"model": "auto", "messages": [{"role": "user", "content": text}]}
        )
        return prompt_features(request, classifier.intent.predict([text])[0], default_output)

    def cheapest_output_price(tiers: Sequence[int]) -> float | None:
        prices = [price_of(m.cost, None).output_usd_per_1m for m in settings.models if m.tier in tiers]
        return min(prices) if prices else None

    cheap = cheapest_output_price(range(1, settings.router.strong_tier))
    strong = cheapest_output_price([m.tier for m in settings.models if m.tier >= settings.router.strong_tier])
    ratio = cheap / strong if cheap is not None and strong else None
    calibration, evaluation = golden.split()
    try:
        result = calibrate.run_calibration(
            settings.router.scorer, build_scorer(settings.router.scorer), features_of,
            calibration, evaluation, args.strong_share, ratio,
        )  # fmt: skip
    finally:
        classifier.close()
    path = calibrate.save(result, cache.router)
    print(json.dumps(result, indent=2))
    print(f"saved to {path}; the gateway uses it when router.threshold is not set")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from inferstack.models.embeddings import Embedder
    from inferstack.retrieval import loaders
    from inferstack.retrieval.service import RetrievalService
    from inferstack.retrieval.store import COLLECTION_NAME, MilvusStore
    from inferstack.serving.runtime import milvus_uri

    settings = batch_settings(args)
    if not COLLECTION_NAME.match(args.collection):
        print(f"error: --collection must match {COLLECTION_NAME.pattern}", file=sys.stderr)
        return EXIT_CONFIG
    files = loaders.find_files([Path(p) for p in args.paths])
    if not files:
        print(f"error: no .md/.txt/.html/.pdf files under {args.paths}", file=sys.stderr)
        return 1
    cache = CacheLayout(settings.cache_dir).ensure()
    embedder = Embedder.from_config(settings.embeddings, cache)
    store = MilvusStore(milvus_uri(settings, cache), embedder.dimensions)
    service = RetrievalService(store, embedder, None, settings.retrieval)
    base = Path.cwd().resolve()

    async def run() -> tuple[int, int]:
        documents = chunks = 0
        for path in tqdm(files, desc=f"ingest -> {args.collection}", unit="file", disable=None):
            done, made = await service.ingest(args.collection, args.tenant, [loaders.load(path, base)])
            documents, chunks = documents + done, chunks + made
        return documents, chunks

    try:
        documents, chunks = asyncio.run(run())
    finally:
        service.close()
        embedder.close()
    print(f"{args.collection}: {documents} documents, {chunks} chunks (tenant {args.tenant})")
    return 0
