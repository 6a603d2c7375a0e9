"""ONNX Runtime serves the trained heads with int8 weights and gives PyTorch's float32 answers:
the same class per text / token, the same top reranked candidate."""

from __future__ import annotations

import random

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from inferstack.cache import CacheLayout
from inferstack.config import Settings
from inferstack.models.classifier import EntityRecognizer, IntentClassifier
from inferstack.models.onnx_head import INT8_FILE, ONNX_FILE, OnnxGraph
from inferstack.models.training import manpages
from inferstack.models.training.reranker import passage
from inferstack.retrieval.service import Reranker

TEXTS = [
    "Hi, I'm Maria Gonzalez from Madrid.",
    "please refund order 4411",
    "Forward this to Hiroshi Tanaka at Acme in Osaka",
]


def test_int8_heads_give_the_pytorch_answers() -> None:
    cache = CacheLayout(Settings().cache_dir)
    for kind, head in (("ner", EntityRecognizer), ("intent", IntentClassifier)):
        fast = head.load(cache.trained(kind))
        slow = head.load(cache.trained(kind), onnx=False)
        assert isinstance(fast._logits, OnnxGraph) and not isinstance(slow._logits, OnnxGraph)
        assert (cache.trained(kind) / INT8_FILE).exists() and (cache.trained(kind) / ONNX_FILE).exists()
        enc = fast.tokenizer(TEXTS, padding=True, return_tensors="pt")
        with torch.inference_mode():
            assert (fast._best(enc)[1] == slow._best(enc)[1]).all()  # same class for every token
            assert np.abs(fast._logits(enc) - slow._logits(enc)).max() < 1.0  # int8 moves logits a little


def test_int8_reranker_keeps_the_fp32_order_on_held_out_pages() -> None:
    folder = CacheLayout(Settings().cache_dir).trained("reranker")
    fast = Reranker.load(folder)
    assert (folder / INT8_FILE).exists()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    exact = AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
    _, heldout = manpages.split(manpages.load_pages())
    rng = random.Random(11)
    agree = 0
    queries = rng.sample(heldout, 40)
    for page in queries:
        candidates = [passage(p) for p in [page, *rng.sample(heldout, 7)]]
        enc = tokenizer([page.summary] * 8, candidates, truncation="longest_first", max_length=96,
                        padding=True, return_tensors="pt")  # fmt: skip
        with torch.inference_mode():
            reference = exact(**enc).logits[:, 0]
        scores = fast.score_sync(page.summary, candidates)
        agree += int(int(reference.argmax()) == scores.index(max(scores)))
    assert agree >= 36, agree  # top-1 agrees on >= 90 % of queries
