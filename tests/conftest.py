"""Test-process environment: the same no-telemetry, offline switches the CLI sets for itself
(CacheLayout.offline_env), applied before any test imports onnxruntime or the Hugging Face
libraries. Cache and temp-dir locations are left to each test."""

from __future__ import annotations

import os

from inferstack.config import Settings
from inferstack.config.cache import CacheLayout

_SWITCHES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY", "VLLM_NO_USAGE_STATS",
             "VLLM_DO_NOT_TRACK", "DO_NOT_TRACK", "ORT_DISABLE_TELEMETRY")  # fmt: skip
_env = CacheLayout(Settings().cache_dir).offline_env()
os.environ.update({key: _env[key] for key in _SWITCHES})
