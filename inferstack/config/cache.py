"""The project's one cache directory and the environment that keeps every tool inside it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CacheLayout:
    root: Path

    @property
    def models(self) -> Path:
        return self.root / "models"

    def trained(self, kind: str) -> Path:
        """Artefacts trained here (intent, ner, guard, reranker): `models/<kind>-minilm`."""
        return self.models / f"{kind}-minilm"

    @property
    def spacy_blank(self) -> Path:
        """Tokenizer-only spaCy pipeline: Presidio's NLP engine when the BERT NER finds names."""
        return self.models / "spacy-blank-en"

    @property
    def data(self) -> Path:
        """Databases the stack owns (the embedded Milvus Lite store)."""
        return self.root / "data"

    @property
    def router(self) -> Path:
        """Router calibration (`inferstack router calibrate`)."""
        return self.root / "router"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def tool_cache(self) -> Path:
        """XDG/HF/vLLM caches of third-party tools, so nothing lands in ~/.cache or /tmp."""
        return self.root / "tools"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def ensure(self) -> CacheLayout:
        for path in (self.models, self.logs, self.tool_cache, self.tmp, self.data):
            path.mkdir(parents=True, exist_ok=True)
        return self

    def offline_env(self) -> dict[str, str]:
        """Environment for child processes (vLLM) and for in-process libraries: offline, no
        telemetry, every cache inside the project's own directory."""
        tools = self.tool_cache
        return {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "VLLM_NO_USAGE_STATS": "1",
            "VLLM_DO_NOT_TRACK": "1",
            "DO_NOT_TRACK": "1",
            # onnxruntime >= 1.29 keeps a device id under ~/.cache/Microsoft and sends usage events
            "ORT_DISABLE_TELEMETRY": "1",
            "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",  # Presidio's e-mail check: bundled snapshot
            "TLDEXTRACT_CACHE": str(tools / "tldextract"),
            "HF_HOME": str(tools / "huggingface"),
            "XDG_CACHE_HOME": str(tools),
            "VLLM_CACHE_ROOT": str(tools / "vllm"),
            "TORCHINDUCTOR_CACHE_DIR": str(tools / "torchinductor"),
            "TRITON_CACHE_DIR": str(tools / "triton"),
            "NUMBA_CACHE_DIR": str(tools / "numba"),
            "TMPDIR": str(self.tmp),
        }

    def apply_to_process(self) -> None:
        """Set the offline environment for this process (before heavy libraries import)."""
        self.ensure()
        os.environ.update(self.offline_env())
