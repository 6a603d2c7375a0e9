"""Test-process environment: the same no-telemetry, offline switches the CLI sets for itself
(CacheLayout.offline_env), applied before any test imports onnxruntime or the Hugging Face
libraries (cache and temp-dir locations are left to each test); and the real MiniLM embedder,
loaded once for the tests that need one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from inferstack.config import Settings
from inferstack.config.cache import CacheLayout

if TYPE_CHECKING:
    from inferstack.models.embeddings import Embedder
    from loadtest.redis_server import RedisServer

_SWITCHES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY", "VLLM_NO_USAGE_STATS",
             "VLLM_DO_NOT_TRACK", "DO_NOT_TRACK", "ORT_DISABLE_TELEMETRY")  # fmt: skip
_env = CacheLayout(Settings().cache_dir).offline_env()
os.environ.update({key: _env[key] for key in _SWITCHES})


@pytest.fixture(scope="session")
def embedder() -> Iterator[Embedder]:
    from inferstack.models.embeddings import Embedder  # after the switches above: it loads onnxruntime

    settings = Settings()
    loaded = Embedder.from_config(settings.embeddings, CacheLayout(settings.cache_dir).ensure())
    yield loaded
    loaded.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    from loadtest.redis_server import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()
