"""The cross-encoder reranker trained here (`inferstack train reranker`), as retrieval uses it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from inferstack.models.card import read_card


class Reranker:
    """The cross-encoder trained here (`inferstack train reranker`), served by ONNX Runtime with
    int8 weights on its own thread. Scores are logits: only their order within one query means
    anything."""

    def __init__(self, tokenizer: Any, logits: Callable[[Any], Any], max_length: int) -> None:
        self._tokenizer = tokenizer
        self._logits = logits
        self._max_length = max_length
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rerank")

    @classmethod
    def load(cls, folder: Path) -> Reranker:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from inferstack.models.onnx_head import OnnxGraph, ensure_int8

        card = read_card(folder)
        if card is None or "max_length" not in card:  # the length it was trained at decides the cost
            raise RuntimeError(f"{folder}: no model card with max_length; run `inferstack train reranker`")
        max_length = int(card["max_length"])
        onnx = ensure_int8(folder, AutoModelForSequenceClassification, token_types=True)
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        return cls(tokenizer, OnnxGraph(onnx, torch.get_num_threads()), max_length)

    def score_sync(self, query: str, texts: Sequence[str], max_length: int | None = None) -> list[float]:
        """`max_length`: tokens per pair, None = the length it was trained at. The cost is about
        linear in it."""
        if not texts:
            return []
        length = max_length or self._max_length
        # A word is at least one piece, so the first `length` words leave the same encoding
        # after truncation; tokenising whole 200-token chunks took 13 ms of a 20-pair rerank.
        heads = [" ".join(text.split(maxsplit=length)[:length]) for text in texts]
        enc = self._tokenizer(
            [query] * len(texts), heads, truncation="longest_first", max_length=length, padding=True,
            return_tensors="np",
        )  # fmt: skip
        return [float(s) for s in self._logits(enc)[:, 0]]

    async def score(self, query: str, texts: Sequence[str], max_length: int | None = None) -> list[float]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.score_sync, query, list(texts), max_length)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
