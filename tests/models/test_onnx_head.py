"""ONNX Runtime serves the trained heads with the same answers as PyTorch."""

from __future__ import annotations

import torch

from inferstack.cache import CacheLayout
from inferstack.config import Settings
from inferstack.models.classifier import EntityRecognizer, IntentClassifier
from inferstack.models.onnx_head import ONNX_FILE

TEXTS = [
    "Hi, I'm Maria Gonzalez from Madrid.",
    "please refund order 4411",
    "Forward this to Hiroshi Tanaka at Acme in Osaka",
]


def test_onnx_matches_pytorch_for_both_heads() -> None:
    cache = CacheLayout(Settings().cache_dir)
    for kind, head in (("ner", EntityRecognizer), ("intent", IntentClassifier)):
        fast = head.load(cache.trained(kind))
        slow = head.load(cache.trained(kind), onnx=False)
        assert fast.onnx is not None and slow.onnx is None
        assert (cache.trained(kind) / ONNX_FILE).exists()
        enc = fast.tokenizer(TEXTS, padding=True, return_tensors="pt")
        with torch.inference_mode():
            assert torch.allclose(fast._logits(enc), slow._logits(enc), atol=1e-4)
        assert fast.predict(TEXTS) == slow.predict(TEXTS)  # type: ignore[operator]
