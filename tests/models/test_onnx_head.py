"""ONNX Runtime serves the trained heads with int8 weights and gives PyTorch's float32 answers:
the same class per text / token, the same top reranked candidate."""

from __future__ import annotations

import random

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from inferstack.config import Settings
from inferstack.config.cache import CacheLayout
from inferstack.models.classifier import EntityRecognizer, IntentClassifier
from inferstack.models.onnx_head import INT8_FILE, ONNX_FILE, OnnxGraph
from inferstack.models.reranker import Reranker
from inferstack.models.training import manpages
from inferstack.models.training.reranker import passage

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
        # The NER's input as served: capital flags as token types.
        enc = (
            fast.encode(TEXTS)[0]
            if isinstance(fast, EntityRecognizer)
            else fast.tokenizer(TEXTS, padding=True, return_tensors="pt")
        )
        # The NER's padded positions are never read, so only real tokens are compared.
        real = enc["attention_mask"].numpy().astype(bool) if kind == "ner" else slice(None)
        with torch.inference_mode():
            assert (fast._probs(enc).argmax(-1)[real] == slow._probs(enc).argmax(-1)[real]).all()
            difference = np.abs(fast._logits(enc) - slow._logits(enc))[real]
            assert difference.max() < 1.0, difference.max()  # int8 moves logits a little
    # The NER's graph reads its capital flags as token types; served and PyTorch spans agree.
    ner_fast, ner_slow = (EntityRecognizer.load(cache.trained("ner"), onnx=onnx) for onnx in (True, False))
    assert isinstance(ner_fast._logits, OnnxGraph) and "token_type_ids" in ner_fast._logits.inputs
    spans = [[(e.label, e.start, e.end) for e in ents] for ents in ner_fast.predict(TEXTS)]
    assert spans == [[(e.label, e.start, e.end) for e in ents] for ents in ner_slow.predict(TEXTS)]
    assert ("PERSON", 8, 22) in spans[0] and ("LOCATION", 28, 34) in spans[0], spans


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
