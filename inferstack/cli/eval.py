"""`inferstack eval`: golden sets through the real stages, in this process or against a gateway."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import AbstractContextManager
from pathlib import Path

from inferstack.cli.common import EXIT_CONFIG, batch_settings


def cmd_eval(args: argparse.Namespace) -> int:
    from inferstack.evals.client import EvalClient, EvalError, in_process, remote
    from inferstack.evals.run import TASKS, Plan, markdown, run_task, write_report
    from inferstack.evals.sets import SetError

    tasks = TASKS if args.task == "all" else (args.task,)
    if (args.collection is None) != (args.qrels is None):
        print("error: --collection and --qrels go together", file=sys.stderr)
        return EXIT_CONFIG
    if args.collection and tasks != ("retrieval",):
        print("error: --collection/--qrels are for `inferstack eval retrieval`", file=sys.stderr)
        return EXIT_CONFIG
    qrels = Path(args.qrels) if args.qrels else None
    plan = Plan(Path(args.sets), [Path(p) for p in args.set], args.collection, qrels, args.show_errors)
    settings = batch_settings(args)
    work = tempfile.TemporaryDirectory(prefix="eval-", dir=settings.cache_dir / "tmp")
    client: AbstractContextManager[EvalClient]
    if args.against:
        key = os.environ.get(args.api_key_env, "") if args.api_key_env else ""
        client, where = remote(args.against, key or None), args.against
    else:
        client, where = in_process(settings, Path(work.name) / "milvus.db"), "in-process gateway"
    results = {}
    try:
        with work, client as gateway:
            for task in tasks:
                results[task] = run_task(task, gateway, plan)
    except (SetError, EvalError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    data, page = write_report(results, Path(args.out), where)
    print(markdown(results, where))
    print(f"written: {data}, {page}")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "eval",
        help="run golden sets through the stages and report quality and latency",
        description="Run JSON Lines golden sets through the real stages over the HTTP API: a gateway "
        "started in this process from the config (no model server), or a running one (--against). "
        "Default sets: the folder --sets (eval/ of a checkout) plus the project's generated held-out "
        "sets. Writes OUT/eval.json and OUT/eval.md.",
    )
    parser.add_argument("task", choices=["intent", "pii", "injection", "retrieval", "router", "all"])
    parser.add_argument("--against", metavar="URL", help="a running gateway, e.g. http://127.0.0.1:8000")
    parser.add_argument("--api-key-env", metavar="VAR", help="env var holding the API key for --against")
    parser.add_argument("--sets", default="eval", help="folder of golden sets (default: ./eval)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH",
        help="a set file (or a corpus folder for retrieval) instead of the defaults; repeatable",
    )
    parser.add_argument("--collection", help="retrieval: an existing collection to evaluate (with --qrels)")
    parser.add_argument("--qrels", help="retrieval: JSON Lines of {query, relevant: [document ids]}")
    parser.add_argument(
        "--show-errors",
        type=int,
        default=0,
        metavar="N",
        help="put the first N misses of each set in eval.json (reading them tunes on the set)",
    )
    parser.add_argument("--out", default="reports", help="report folder (default: reports)")
    parser.add_argument("--config", help="YAML config file")
    parser.set_defaults(func=cmd_eval)
