"""Intent classification and NER inference on CPU: loaded once, batched, off the event loop."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator, Sequence
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

from inferstack.models.bio import BioPath
from inferstack.models.card import read_card
from inferstack.models.onnx_head import OnnxGraph, ensure_int8

MAX_LEN = 256
_JOINERS = frozenset({"-", "'", "\u2019"})  # inside one word: "Jean-Luc", "O'Brien"
# Lower-case parts of names ("van", "de la"); not "y"/"e"/"i": "Ana y Pedro" are two people, nor
# words that are names themselves ("Ben", "Al").
_PARTICLES = frozenset({"van", "von", "de", "der", "den", "des", "du", "da", "das", "dos", "di", "del",
                        "della", "la", "le", "ter", "ten", "zu", "bin", "binti", "ibn", "af",
                        "av"})  # fmt: skip
_EDGE = frozenset(" \t\r\n,;:()[]{}<>|-\u2013\u2014\"'\u2019?!")


def _particles_only(gap: str) -> bool:
    """One or two name particles on one line: the gap inside "Lucas du Lacombe"."""
    words = gap.split()
    return "\n" not in gap and 0 < len(words) <= 2 and all(w.lower() in _PARTICLES for w in words)


def capital_flags(text: str, offsets: Sequence[Sequence[int]], words: list[int | None]) -> list[int]:
    """1 for every word piece of a word that starts with a capital letter, else 0. The NER reads
    these as BERT's token types: the shipped MiniLM is uncased ("Kovacs" and "kovacs" are one
    piece), and a capital is what tells "Rose" or "Paris" the name from the word. A text with
    more capitals than lower-case letters ("HELP, MY NAME IS ...") is all 0, as if lower case:
    there capitals say nothing, and with 1s it read as a row of names."""
    if sum(map(str.isupper, text)) > sum(map(str.islower, text)):
        return [0] * len(words)
    flags, flag, previous = [], 0, None
    for (start, _), word in zip(offsets, words, strict=True):
        if word is None:
            flag = 0
        elif word != previous:
            flag = int(text[start].isupper())
        flags.append(flag)
        previous = word
    return flags


def _labels(config: Any) -> list[str]:
    return [config.id2label[i] for i in range(config.num_labels)]


@dataclass(frozen=True)
class Intent:
    label: str
    score: float  # calibrated probability of `label`
    confident: bool = True  # score at or above the classifier's min_confidence

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Entity:
    label: str
    text: str
    start: int
    end: int
    score: float


class FineTuned:
    """A fine-tuned MiniLM head: its tokenizer, its classes in id order and a function from a
    tokenizer batch to logits (ONNX Runtime when served, the PyTorch module in training)."""

    auto_model: Any = None  # the transformers Auto* class that loads the head
    token_types = False  # whether the graph reads token_type_ids (the NER's capital flags)

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
        graph = ensure_int8(folder, cls.auto_model, token_types=cls.token_types)
        runtime = OnnxGraph(graph, torch.get_num_threads())
        return cls(tokenizer, _labels(AutoConfig.from_pretrained(str(folder))), runtime)

    @staticmethod
    def _batches(texts: list[str], batch_size: int) -> Iterator[list[int]]:
        """Indices of `texts` in batches of similar length. Padding costs time, and in the int8
        graph it also changed answers: ONNX Runtime quantises activations with one scale per
        tensor, padded rows included, so a message's label depended on its batch neighbours."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            yield order[start : start + batch_size]

    def _probs(self, enc: Any, temperature: float = 1.0) -> np.ndarray:
        """Class probabilities per row (per token for the NER). In NumPy: a torch op right after
        an ONNX Runtime run waited for cores its workers were still spinning on (~3 ms per op on
        2 cores)."""
        logits = self._logits(enc) / temperature
        exp = np.exp(logits - logits.max(-1, keepdims=True))
        probs: np.ndarray = exp / exp.sum(-1, keepdims=True)
        return probs


class IntentClassifier(FineTuned):
    """The intent head. Its probabilities are divided by the temperature fitted on held-out
    hand-written messages at training (model card); below `min_confidence` an intent is marked
    not confident, and the stages that read it treat it as unknown."""

    auto_model = AutoModelForSequenceClassification
    temperature = 1.0
    min_confidence = 0.5

    @classmethod
    def load(cls, folder: Path, *, onnx: bool = True) -> Self:
        classifier = super().load(folder, onnx=onnx)
        card = read_card(folder) or {}
        classifier.temperature = float(card.get("temperature", 1.0))
        return classifier

    @torch.inference_mode()
    def probabilities(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Class probabilities, one row per text in the callers' order."""
        out = np.zeros((len(texts), len(self.labels)))
        for batch in self._batches(texts, batch_size):
            enc = self.tokenizer(
                [texts[i] for i in batch],
                padding=True,
                truncation=True,
                max_length=MAX_LEN,
                return_tensors="pt",
            )
            out[batch] = self._probs(enc, self.temperature)
        return out

    def predict(self, texts: list[str], batch_size: int = 64) -> list[Intent]:
        probs = self.probabilities(texts, batch_size)
        return [
            Intent(self.labels[int(j)], round(float(s), 4), bool(s >= self.min_confidence))
            for s, j in zip(probs.max(-1), probs.argmax(-1), strict=True)
        ]


class EntityRecognizer(FineTuned):
    """Token classifier with BIO tags; subword predictions are merged into character spans."""

    auto_model = AutoModelForTokenClassification
    token_types = True

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, labels: list[str], logits: Callable[[Any], np.ndarray]
    ) -> None:
        super().__init__(tokenizer, labels, logits)
        self._path = BioPath(labels)

    @torch.inference_mode()
    def predict(self, texts: list[str], batch_size: int = 32) -> list[list[Entity]]:
        out: list[list[Entity]] = [[] for _ in texts]
        for batch in self._batches(texts, batch_size):
            chunk = [texts[i] for i in batch]
            enc, offsets, words = self.encode(chunk)
            ids, scores = self._path.tags(self._probs(enc), words)
            for row, (i, text) in enumerate(zip(batch, chunk, strict=True)):
                out[i] = self._decode(text, offsets[row], words[row], ids[row].tolist(), scores[row].tolist())
        return out

    def encode(self, texts: list[str]) -> tuple[Any, list[list[list[int]]], list[list[int | None]]]:
        """The model's input for `texts` (one padded batch, capital flags as token types) and,
        per text, each piece's character offsets and word id."""
        enc = self.tokenizer(
            texts, padding=True, truncation=True, max_length=MAX_LEN, return_tensors="pt",
            return_offsets_mapping=True,
        )  # fmt: skip
        offsets = enc.pop("offset_mapping").tolist()
        words = [enc.word_ids(row) for row in range(len(texts))]
        enc["token_type_ids"] = torch.tensor(
            [capital_flags(text, offsets[row], words[row]) for row, text in enumerate(texts)]
        )
        return enc, offsets, words

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
        previous_word: int | None = None
        for (start, end), word, tag_id, score in zip(offsets, words, ids, scores, strict=True):
            if word is None:  # special tokens
                continue
            tag = self.labels[tag_id]
            prefix, _, label = tag.partition("-")
            # A later subword of a word follows the word's first piece, whatever it was tagged.
            glued = current is not None and word == previous_word
            previous_word = word
            if current is not None and self._continues_word(text, current, (start, end), tag):
                current[2] = end
                if text[start:end] not in _JOINERS:
                    current[3].append(score)
                continue
            if tag == "O" and not glued:
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
        return self._join_particles(text, entities)

    @staticmethod
    def _continues_word(text: str, current: list[Any], piece: tuple[int, int], tag: str) -> bool:
        """A joiner ("-", "'") right after `current`, whatever its tag (`_close` drops it if the
        word ends there), or the piece right after such a joiner: "Hernandez-Bigot",
        "Papouasie-Nouvelle-Guinée", "Ernst-August". The tokenizer splits there and the model
        may tag the far side B-, another type or even O (a month); a word without spaces stays
        one entity, of its first part's type. An O piece ends it unless it is capitalised with
        lower case after: "Lyon-based", "Ana's", "ANA'S"."""
        start, end = piece
        if start != current[2]:
            return False
        part = text[start:end]
        if part in _JOINERS:
            return True
        return text[start - 1] in _JOINERS and (tag != "O" or (part[:1].isupper() and not part.isupper()))

    @staticmethod
    def _join_particles(text: str, entities: list[Entity]) -> list[Entity]:
        """Two PERSON entities with only name particles between them are one name ("Lucas du
        Lacombe", "Ludwig van Beethoven"): the model often leaves the particle out."""
        out: list[Entity] = []
        for entity in entities:
            name = out[-1] if out and out[-1].label == "PERSON" else None
            if name is not None and entity.text in _PARTICLES:
                continue  # "du" tagged on its own after a name: part of the gap checked next
            if (
                name is not None
                and entity.label == "PERSON"
                and _particles_only(text[name.end : entity.start])
            ):
                score = round((name.score + entity.score) / 2, 4)
                out[-1] = Entity("PERSON", text[name.start : entity.end], name.start, entity.end, score)
            else:
                out.append(entity)
        return out

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
    def load(cls, intent_dir: Path, ner_dir: Path, min_confidence: float = 0.5) -> ClassifierService:
        intent = IntentClassifier.load(intent_dir)
        intent.min_confidence = min_confidence
        return cls(intent, EntityRecognizer.load(ner_dir))

    def _both(self, text: str) -> tuple[Intent, list[Entity]]:
        return self.intent.predict([text])[0], self.ner.predict([text])[0]

    async def classify(self, text: str) -> tuple[Intent, list[Entity]]:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._both, text)

    async def intent_of(self, text: str) -> Intent:
        loop = asyncio.get_running_loop()
        return (await loop.run_in_executor(self._pool, self.intent.predict, [text]))[0]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
