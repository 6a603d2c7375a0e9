"""`inferstack serve`: materialise and train what the config needs, then run the gateway."""

from __future__ import annotations

import argparse
import asyncio
import shlex

from inferstack.cli.common import load, setup_logging
from inferstack.cli.models import needed_kinds, pull_all, train
from inferstack.config import Settings
from inferstack.config.cache import CacheLayout


def _curl_example(settings: Settings) -> str:
    url = f"http://{settings.host}:{settings.port}/v1/chat/completions"
    body = '{"model": "auto", "messages": [{"role": "user", "content": "Say hello in five words."}]}'
    auth = " -H 'Authorization: Bearer $INFERSTACK_KEY'" if settings.auth_enabled else ""
    return f"curl -s {url} -H 'Content-Type: application/json'{auth} -d {shlex.quote(body)}"


def cmd_serve(args: argparse.Namespace) -> int:
    settings = load(args.config)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if overrides:
        settings = settings.model_copy(update=overrides)  # flags beat file and env
    settings.check_bind()
    from inferstack.prompts import PromptRegistry

    PromptRegistry.load(settings.prompts)  # a bad template stops here, before models load
    CacheLayout(settings.cache_dir).apply_to_process()
    setup_logging(settings.log_level)
    if pull_all(settings, names=None) != 0:
        return 1
    train(settings, needed_kinds(settings))

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
            base = f"http://{settings.host}:{settings.port}"
            pages = f"\n  chat: {base}/  operator: {base}/admin" if settings.web_pages else ""
            docs = f"\n  API docs: {base}/docs" if settings.api_docs else ""
            print(
                f"inferstack ready on {base} (models: {names}){pages}\n"
                f"  try: {_curl_example(settings)}{docs}",
                flush=True,
            )

        announcer = asyncio.create_task(announce())
        await server.serve()
        announcer.cancel()

    # uvicorn picks uvloop + httptools when installed ("auto"); use the same loop factory.
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(serve_and_announce())
    return 0 if server.started else 1
