"""Intent classification and NER inference on CPU: loaded once, batched, off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    PreTrainedTokenizerBase,
)

from inferstack.models.onnx_head import OnnxGraph, ensure_int8

MAX_LEN = 256
_JOINERS = frozenset({"-", "'", "\u2019"})  # inside one word: "Jean-Luc", "O'Brien"
_EDGE = frozenset(" \t\r\n,;:()[]{}<>|-\u2013\u2014\"'?!")


def _labels(config: Any) -> list[str]:
    return [config.id2label[i] for i in range(config.num_labels)]


@dataclass(frozen=True)
class Intent:
    label: str
    score: float


@dataclass(frozen=True)
class Entity:
    label: str
    text: str
    start: int
    end: int
    score: float


class _FineTuned:
    """A fine-tuned MiniLM head: its tokenizer, its classes in id order and a function from a
    tokenizer batch to logits (ONNX Runtime when served, the PyTorch module in training)."""

    auto_model: Any = None  # the transformers Auto* class that loads the head

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, labels: list[str], logits: Callable[[Any], np.ndarray]
    ) -> None:
        self.tokenizer = tokenizer
        self.labels = labels
        self._logits = logits

    @classmethod
    def from_model(cls, tokenizer: PreTrainedTokenizerBase, model: Any) -> Self:
        """Around a PyTorch head (float32), as training evaluates it."""
        model.eval()
        return cls(tokenizer, _labels(model.config), lambda enc: model(**enc).logits.numpy())

    @classmethod
    def load(cls, folder: Path, *, onnx: bool = True) -> Self:
        """The trained head; served by ONNX Runtime with int8 weights unless `onnx=False`
        (PyTorch, float32). The ONNX path never loads the PyTorch weights (~90 MB per head)."""
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        if not onnx:
            return cls.from_model(tokenizer, cls.auto_model.from_pretrained(str(folder)))
        runtime = OnnxGraph(ensure_int8(folder, cls.auto_model), torch.get_num_threads())
        return cls(tokenizer, _labels(AutoConfig.from_pretrained(str(folder))), runtime)

    def _best(self, enc: Any) -> tuple[np.ndarray, np.ndarray]:
        """Probability and id of the best class per row (per token for the NER). In NumPy: a
        torch op right after an ONNX Runtime run waited for cores its workers were still
        spinning on (~3 ms per op on 2 cores)."""
        logits = self._logits(enc)
        exp = np.exp(logits - logits.max(-1, keepdims=True))
        probs = exp / exp.sum(-1, keepdims=True)
        return probs.max(-1), probs.argmax(-1)


class IntentClassifier(_FineTuned):
    auto_model = AutoModelForSequenceClassification

    @torch.inference_mode()
    def predict(self, texts: list[str], batch_size: int = 64) -> list[Intent]:
        out: list[Intent] = []
        for i in range(0, len(texts), batch_size):
            enc = self.tokenizer(
                texts[i : i + batch_size],
                padding=True,
                truncation=True,
                max_length=MAX_LEN,
                return_tensors="pt",
            )
            scores, ids = self._best(enc)
            out += [Intent(self.labels[int(j)], round(float(s), 4)) for s, j in zip(scores, ids, strict=True)]
        return out


class EntityRecognizer(_FineTuned):
    """Token classifier with BIO tags; subword predictions are merged into character spans."""

    auto_model = AutoModelForTokenClassification

    @torch.inference_mode()
    def predict(self, texts: list[str], batch_size: int = 32) -> list[list[Entity]]:
        out: list[list[Entity]] = []
        for i in range(0, len(texts), batch_size):
            chunk = texts[i : i + batch_size]
            enc = self.tokenizer(
                chunk, padding=True, truncation=True, max_length=MAX_LEN, return_tensors="pt",
                return_offsets_mapping=True,
            )  # fmt: skip
            offsets = enc.pop("offset_mapping").tolist()
            scores, ids = self._best(enc)
            for row, text in enumerate(chunk):
                words = enc.word_ids(row)
                out.append(self._decode(text, offsets[row], words, ids[row].tolist(), scores[row].tolist()))
        return out

    def _decode(
        self,
        text: str,
        offsets: list[list[int]],
        words: list[int | None],
        ids: list[int],
        scores: list[float],
    ) -> list[Entity]:
        entities: list[Entity] = []
        current: list[Any] | None = None  # [label, start, end, [scores]]
        joiner_end: int | None = None  # end of a "-" or "'" held right after `current`
        previous_word: int | None = None
        for (start, end), word, tag_id, score in zip(offsets, words, ids, scores, strict=True):
            if word is None:  # special tokens
                continue
            tag = self.labels[tag_id]
            prefix, _, label = tag.partition("-")
            # A later subword of a word follows the word's first piece, whatever it was tagged.
            glued = current is not None and word == previous_word
            previous_word = word
            if joiner_end is not None:
                held, joiner_end = joiner_end, None
                if current is not None and start == held and label == current[0]:
                    # "Hernandez-Bigot", "Papouasie-Nouvelle-Guinée": the tokenizer splits at the
                    # hyphen and the model may tag either side B-; one word stays one entity.
                    current[2] = end
                    current[3].append(score)
                    continue
            if tag == "O" and not glued:
                if current is not None and start == current[2] and text[start:end] in _JOINERS:
                    joiner_end = end  # kept only if the same entity goes on right after it
                    continue
                current = self._close(text, current, entities)
                continue
            if current is not None and (glued or (prefix == "I" and label == current[0])):
                if "\n" not in text[current[2] : start]:
                    current[2] = end
                    current[3].append(score)
                    continue
                # Entities never span a line break (forms, signatures): drop the continuation.
                current = self._close(text, current, entities)
                continue
            current = self._close(text, current, entities)
            if tag != "O":
                current = [label, start, end, [score]]
        self._close(text, current, entities)
        return entities

    @staticmethod
    def _close(text: str, current: list[Any] | None, entities: list[Entity]) -> None:
        if current is None:
            return
        label, start, end, scores = current
        # Entities never begin or end with separators; a tagged stray "(" or "," is dropped.
        while start < end and text[start] in _EDGE:
            start += 1
        while end > start and text[end - 1] in _EDGE:
            end -= 1
        if start < end:
            entities.append(Entity(label, text[start:end], start, end, round(sum(scores) / len(scores), 4)))


class ClassifierService:
    """Both models behind one worker thread (torch already uses every core per batch)."""

    def __init__(self, intent: IntentClassifier, ner: EntityRecognizer) -> None:
        self.intent = intent
        self.ner = ner
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classify")

    @classmethod
    def load(cls, intent_dir: Path, ner_dir: Path) -> ClassifierService:
        return cls(IntentClassifier.load(intent_dir), EntityRecognizer.load(ner_dir))

    def _both(self, text: str) -> tuple[Intent, list[Entity]]:
        return self.intent.predict([text])[0], self.ner.predict([text])[0]

    async def classify(self, text: str) -> tuple[Intent, list[Entity]]:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._both, text)

    async def intent_of(self, text: str) -> Intent:
        loop = asyncio.get_running_loop()
        return (await loop.run_in_executor(self._pool, self.intent.predict, [text]))[0]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
