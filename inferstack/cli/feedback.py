"""`inferstack feedback export`: every rated turn as JSON Lines (the rating, the comment, the
redacted user message and answer, route, intent, sources): the seed of an evaluation set."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from inferstack.cli.common import batch_settings
from inferstack.config.cache import CacheLayout


def add_parser(sub: Any) -> None:
    feedback = sub.add_parser("feedback", help="feedback on session turns")
    feedback_sub = feedback.add_subparsers(dest="feedback_command", required=True)
    export = feedback_sub.add_parser(
        "export", help="write the stored feedback as JSON Lines (stdout, or --out FILE)"
    )
    export.add_argument("--out", help="file to write (default: stdout)")
    export.add_argument("--tenant", help="only this tenant's feedback")
    export.add_argument("--config", help="YAML config file")
    export.set_defaults(func=cmd_feedback_export)


def cmd_feedback_export(args: argparse.Namespace) -> int:
    from inferstack.serving.runtime import sessions_url
    from inferstack.sessions.store import SessionStore

    settings = batch_settings(args)
    cache = CacheLayout(settings.cache_dir).ensure()

    async def rows() -> list[dict[str, Any]]:
        store = await SessionStore.open(sessions_url(settings, cache))
        try:
            return await store.feedback(args.tenant)
        finally:
            await store.close()

    found = asyncio.run(rows())
    lines = b"".join(orjson.dumps(row) + b"\n" for row in found)
    if args.out:
        Path(args.out).write_bytes(lines)
        print(f"{len(found)} feedback rows -> {args.out}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(lines)
    return 0
